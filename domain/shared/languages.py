"""Language codes, as far as forms need them: BCP 47 primary tags with an optional
region (`en`, `ar`, `pt-BR`)."""

from __future__ import annotations

import re

LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
