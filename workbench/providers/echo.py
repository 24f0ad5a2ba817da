"""Provides the ``echo`` model: it answers with the rendered prompt, to debug templates with no model.

It is a litellm custom provider, so an echo run takes exactly the path of a real one.
"""

from __future__ import annotations

from typing import Any

from workbench.records import Message


def echo_text(messages: list[Message]) -> str:
    """The echo answer: a lone user message as is, else every message under its role."""
    if len(messages) == 1 and messages[0].get("role") == "user":
        return str(messages[0].get("content", ""))
    return "\n\n".join(f"[{m.get('role')}]\n{m.get('content', '')}" for m in messages)


def make_handler() -> Any:
    """The litellm ``CustomLLM`` instance serving ``echo/*``."""
    import litellm
    from litellm import CustomLLM

    def respond(kwargs: dict[str, Any]) -> Any:
        messages = kwargs.get("messages") or []
        text = echo_text(messages)
        words_in = sum(len(str(m.get("content", "")).split()) for m in messages)
        return litellm.ModelResponse(
            model=kwargs.get("model", "echo"),
            choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            usage={"prompt_tokens": words_in, "completion_tokens": len(text.split()),
                   "total_tokens": words_in + len(text.split())},
        )

    class EchoLLM(CustomLLM):
        def completion(self, *args: Any, **kwargs: Any) -> Any:
            return respond(kwargs)

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            return respond(kwargs)

    return EchoLLM()
