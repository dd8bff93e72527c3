"""Wrappers for agent frameworks (OpenAI Agents SDK, LangChain, CrewAI), written against
their documented interfaces; each imports its framework only when used."""
