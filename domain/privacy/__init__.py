"""Patient privacy: personal data sealed with a key of the patient's own, and erasure by
destroying that key (crypto-shredding)."""
