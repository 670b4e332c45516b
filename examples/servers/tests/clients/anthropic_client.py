"""Reads the messages route of the chat server (or the proxy) with Anthropic's official SDK.

Run by tests/real_clients.rs as `python anthropic_client.py REQUESTS_JSON`, where
REQUESTS_JSON is a list of {"base_url", "prompt", "stream", "extra_body"} with optional
"tools" (a list of {"name", "parameters"}) and "thinking" (true for a thinking block). Prints a
JSON list with, for each request, what the SDK returned (the text, the thinking, the tool
uses, the stop reason, the usage, the event types it read) or the error it raised, for the
Rust test to compare with the expected answers.
"""

import json
import sys

import anthropic


def run(request: dict) -> dict:
    client = anthropic.Anthropic(
        base_url=request["base_url"], api_key="not-needed", max_retries=0, timeout=60
    )
    arguments = dict(
        model="tokenflush-sim",
        max_tokens=1024,
        messages=[{"role": "user", "content": request["prompt"]}],
        extra_body=request.get("extra_body", {}),
    )
    if request.get("tools"):
        arguments["tools"] = [
            {"name": t["name"], "input_schema": t["parameters"]} for t in request["tools"]
        ]
    if request.get("thinking"):
        arguments["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    text, event_types = [], []
    try:
        if request["stream"]:
            # The SDK's streaming helper: it accumulates the message from the events and
            # checks their order as it goes.
            with client.messages.stream(**arguments) as stream:
                for event in stream:
                    event_types.append(event.type)
                    if event.type == "text":
                        text.append(event.text)
                message = stream.get_final_message()
        else:
            message = client.messages.create(**arguments)
            text.extend(block.text for block in message.content if block.type == "text")
    except anthropic.APIError as error:
        # The text that arrived before the error, and the error the SDK raised.
        body = error.body if isinstance(error.body, dict) else {}
        return {
            "text": "".join(text),
            "error_type": type(error).__name__,
            "error": body.get("error"),
        }
    usage = {
        "input_tokens": message.usage.input_tokens,
        "output_tokens": message.usage.output_tokens,
    }
    return {
        "id": message.id,
        "text": "".join(text),
        "final_text": "".join(b.text for b in message.content if b.type == "text"),
        "thinking": "".join(b.thinking for b in message.content if b.type == "thinking"),
        "tool_uses": [
            {"id": b.id, "name": b.name, "input": b.input}
            for b in message.content
            if b.type == "tool_use"
        ],
        "block_types": [b.type for b in message.content],
        "stop_reason": message.stop_reason,
        "usage": usage,
        "text_events": event_types.count("text"),
    }


def main() -> None:
    requests = json.loads(sys.argv[1])
    print(
        json.dumps(
            {"sdk_version": anthropic.__version__, "results": [run(r) for r in requests]}
        )
    )


if __name__ == "__main__":
    main()
