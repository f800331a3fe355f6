"""Fakes at the edge of the world: the LLM server the SDKs talk to in tests."""
