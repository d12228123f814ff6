"""Content fingerprints, serializers, the artifact store and stage keys (DESIGN §6)."""
