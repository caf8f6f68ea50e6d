"""Language-model providers (OpenAI, DeepSeek, Google) through the `openai` client and their
OpenAI-compatible chat-completions endpoints."""
