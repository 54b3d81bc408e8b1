"""The foundation every other package stands on: the exception hierarchy, settings from the
environment, the validated config schema, the object store, canonical hashing, thread budgets,
redaction of secrets, the runtime environment and the plain-words progress log. Nothing here
imports any other ``pipeline`` package."""
