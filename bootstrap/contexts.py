"""What each bounded context contributes: services, read models, process managers,
timed aggregates and outbox channels. Adding a context is adding its lines here;
nothing in workers/ changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bootstrap.settings import Settings
from domain.careteam.application import CareTeams
from domain.feedback.application import FeedbackLoop
from domain.feedback.policies import PROCESS_MANAGERS as FEEDBACK_PROCESS_MANAGERS
from domain.messaging.application import Conversations
from domain.notifications.application import PUSH, Notifications, PushRules
from domain.notifications.email import EMAIL, EmailRules
from domain.outbox.application import Outbox
from domain.outbox.delivery import DELIVERY, Delivery
from domain.people.application import People
from domain.plans.application import Plans
from domain.plans.enrollment import ENROLLMENT_END, Enrollment
from domain.plans.policies import PROCESS_MANAGERS as PLAN_PROCESS_MANAGERS
from domain.privacy.application import ERASURE_POLICY, Privacy
from domain.privacy.keys import KeyStore
from domain.shared.commands import CommandBus
from domain.shared.eventlog import EventLog
from domain.shared.reactions import Reaction
from domain.surveys.application import Surveys
from domain.surveys.feedback import SATISFACTION_CHECK, Feedback
from domain.surveys.link import LinkKeys
from domain.surveys.policies import PROCESS_MANAGERS as SURVEY_PROCESS_MANAGERS
from domain.webhooks.application import WEBHOOK, WebhookRules, Webhooks
from domain.webhooks.subscription import Subscription
from domain.workouts.application import Workouts
from domain.workouts.window import FEEDBACK_WINDOW, FeedbackWindow
from projections.careteam.projection import CareTeamProjection
from projections.careteam.view import CareTeamView
from projections.conversations.projection import ConversationProjection
from projections.conversations.view import ConversationView
from projections.deadlines.projection import DeadlineProjection
from projections.deadlines.view import DeadlineView
from projections.deliveries.projection import DeliveryProjection
from projections.deliveries.view import DeliveryView
from projections.directory.projection import DirectoryProjection
from projections.directory.view import DirectoryView
from projections.notifications.projection import NotificationProjection
from projections.notifications.view import NotificationView
from projections.plans.projection import PlanProjection
from projections.plans.view import PlanView
from projections.platform.projection import Projection
from projections.platform.store import ReadStore
from projections.surveys.projection import SurveyProjection
from projections.surveys.view import SurveyView
from projections.tenants.projection import TenantProjection
from projections.tenants.view import TenantView
from projections.webhooks.projection import WebhookProjection
from projections.webhooks.view import WebhookView
from projections.workouts.projection import WorkoutSessionProjection
from projections.workouts.view import WorkoutView
from workers.deadlines import DeadlineHandler, Elapse
from workers.outbox.deliver import DeliverDue
from workers.outbox.email import SmtpSender
from workers.outbox.expo import ExpoSender
from workers.outbox.links import LinkWriter
from workers.outbox.senders import ChannelSender, PushSender, RecordingSender
from workers.outbox.webhook import PublicAddressGuard, WebhookSender

# Aggregates that keep a durable deadline, by deadline kind, and fire it with `elapse`.
ELAPSING: Mapping[str, type[Any]] = {
    FEEDBACK_WINDOW: FeedbackWindow,
    SATISFACTION_CHECK: Feedback,
    ENROLLMENT_END: Enrollment,
}


@dataclass(frozen=True)
class Views:
    tenants: TenantView
    directory: DirectoryView
    care_team: CareTeamView
    conversations: ConversationView
    deadlines: DeadlineView
    deliveries: DeliveryView
    notifications: NotificationView
    workouts: WorkoutView
    surveys: SurveyView
    plans: PlanView
    webhooks: WebhookView


@dataclass(frozen=True)
class Services:
    people: People
    care_teams: CareTeams
    conversations: Conversations
    workouts: Workouts
    feedback: FeedbackLoop
    notifications: Notifications
    outbox: Outbox
    surveys: Surveys
    plans: Plans
    webhooks: Webhooks
    privacy: Privacy


@dataclass(frozen=True)
class Wiring:
    services: Services
    views: Views
    projections: Sequence[Projection]
    reactions: Sequence[Reaction]
    deadline_handlers: Mapping[str, DeadlineHandler]
    senders: Mapping[str, ChannelSender]


class CareTeamDirectory:
    """The feedback loop's view of care teams: the therapists the read model lists."""

    def __init__(self, view: CareTeamView) -> None:
        self.view = view

    def therapists_of(self, patient_id: uuid.UUID) -> list[uuid.UUID]:
        return [uuid.UUID(t) for t in self.view.therapist_ids(str(patient_id))]


class AdminsDirectory:
    """The survey loop's view of a tenant's admins: hospital and PX admins the directory
    read model lists."""

    def __init__(self, view: DirectoryView) -> None:
        self.view = view

    def admins_of(self, tenant_id: uuid.UUID) -> list[uuid.UUID]:
        return [uuid.UUID(row["id"]) for row in self.view.admins(str(tenant_id))]


class SubscriptionsDirectory:
    """Automations' view of webhook subscriptions: the active ones of a tenant that want a
    trigger, as the webhooks read model indexes them."""

    def __init__(self, view: WebhookView) -> None:
        self.view = view

    def subscriptions_of(self, tenant_id: uuid.UUID, trigger: str) -> list[uuid.UUID]:
        return [uuid.UUID(s) for s in self.view.subscriptions_of(str(tenant_id), trigger)]


class SubscriptionSecrets:
    """The webhook sender's signing secret for a delivery: read at send time from the
    Subscription aggregate the delivery goes to (no read model holds a secret); None when
    that subscription is gone or inactive."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def __call__(self, delivery_id: uuid.UUID) -> str | None:
        delivery = self.log.find(delivery_id)
        if not isinstance(delivery, Delivery) or delivery.recipient_id is None:
            return None
        subscription = self.log.find(delivery.recipient_id)
        if not isinstance(subscription, Subscription) or not subscription.active:
            return None
        return subscription.secret


def senders_for(settings: Settings, log: EventLog) -> dict[str, ChannelSender]:
    """Expo when a push service is configured, SMTP when a mail server is; otherwise that
    channel's attempts are recorded, not sent (each channel by a recorder of its own).
    Webhooks are always sent: their subscription names where."""
    webhook = WebhookSender(
        SubscriptionSecrets(log), PublicAddressGuard(settings.webhook_allow_private)
    )
    email: ChannelSender = (
        SmtpSender(settings.smtp_url, settings.email_from)
        if settings.smtp_url
        else RecordingSender()
    )
    if settings.expo_base_url:
        expo = ExpoSender(settings.expo_base_url, settings.expo_access_token)
        return {PUSH: PushSender(expo), EMAIL: email, WEBHOOK: webhook}
    return {PUSH: RecordingSender(), EMAIL: email, WEBHOOK: webhook}


def views_over(store: ReadStore) -> Views:
    """Every context's queries over `store`: the store itself for the domain, its
    revealing face for the API (projections/platform/revealing.py)."""
    return Views(
        tenants=TenantView(store),
        directory=DirectoryView(store),
        care_team=CareTeamView(store),
        conversations=ConversationView(store),
        deadlines=DeadlineView(store),
        deliveries=DeliveryView(store),
        notifications=NotificationView(store),
        workouts=WorkoutView(store),
        surveys=SurveyView(store),
        plans=PlanView(store),
        webhooks=WebhookView(store),
    )


def wire(
    settings: Settings, log: EventLog, store: ReadStore, commands: CommandBus, keys: KeyStore
) -> Wiring:
    views = views_over(store)
    outbox = Outbox(
        {PUSH: PushRules(), EMAIL: EmailRules(), WEBHOOK: WebhookRules()},
        settings.delivery_lease_seconds,
    )
    webhooks = Webhooks(
        PublicAddressGuard(settings.webhook_allow_private), SubscriptionsDirectory(views.webhooks)
    )
    plans = Plans(webhooks)
    services = Services(
        people=People(),
        care_teams=CareTeams(),
        conversations=Conversations(),
        workouts=Workouts(settings.feedback_window_seconds, plans),
        feedback=FeedbackLoop(CareTeamDirectory(views.care_team)),
        notifications=Notifications(),
        outbox=outbox,
        surveys=Surveys(
            LinkKeys(settings.link_key_bytes()),
            AdminsDirectory(views.directory),
            settings.survey_token_expiry_days,
            settings.satisfaction_reminder_days,
        ),
        plans=plans,
        webhooks=webhooks,
        privacy=Privacy(keys, CareTeamDirectory(views.care_team).therapists_of),
    )
    projections: list[Projection] = [
        TenantProjection(),
        DirectoryProjection(),
        CareTeamProjection(),
        ConversationProjection(),
        NotificationProjection(),
        WorkoutSessionProjection(),
        DeadlineProjection([*ELAPSING.values(), Delivery]),
        DeliveryProjection(),
        SurveyProjection(),
        PlanProjection(),
        WebhookProjection(),
    ]
    reactions = [
        *(
            Reaction(pm, services.feedback.handle, services.feedback.prefetch)
            for pm in FEEDBACK_PROCESS_MANAGERS
        ),
        *(Reaction(pm, services.surveys.handle) for pm in SURVEY_PROCESS_MANAGERS),
        *(Reaction(pm, services.plans.handle) for pm in PLAN_PROCESS_MANAGERS),
        Reaction(ERASURE_POLICY, services.privacy.handle),
    ]
    senders = senders_for(settings, log)
    handlers: dict[str, DeadlineHandler] = {
        kind: Elapse(aggregate, commands) for kind, aggregate in ELAPSING.items()
    }
    links = LinkWriter(LinkKeys(settings.link_key_bytes()), settings.public_base_url)
    handlers[DELIVERY] = DeliverDue(outbox, senders, commands, links)
    return Wiring(
        services=services,
        views=views,
        projections=projections,
        reactions=reactions,
        deadline_handlers=handlers,
        senders=senders,
    )
