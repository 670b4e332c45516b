"""Reads typed streams in the three LLM wire formats with the official Python SDKs.

Run by tests/sdk_formats.rs as `python formats_client.py BASE_URL`: the server at BASE_URL
renders the same item stream (reasoning, answer text, two tool calls, a finish reason and
usage) as OpenAI chat completions, OpenAI Responses and Anthropic messages. Prints a JSON
object with what each SDK made of it, through its raw event stream and through its
accumulating helper, for the Rust test to compare with the items it sent.
"""

import json
import sys

import anthropic
import openai

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


def chat(base_url: str) -> dict:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="-", max_retries=0, timeout=60)
    text, reasoning, finish_reasons, usage, chunks = [], [], [], None, 0
    calls: dict = {}
    stream = client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage.model_dump(exclude_none=True)
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
            extra = delta.model_extra or {}
            if extra.get("reasoning_content"):
                reasoning.append(extra["reasoning_content"])
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                if call.id:
                    entry["id"] = call.id
                if call.function and call.function.name:
                    entry["name"] = call.function.name
                if call.function and call.function.arguments:
                    entry["arguments"] += call.function.arguments
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)

    # The SDK's accumulating helper, which checks the chunks as it goes.
    with client.chat.completions.stream(
        model="m",
        messages=MESSAGES,
        tools=TOOLS,
        stream_options={"include_usage": True},
    ) as helper:
        for _ in helper:
            pass
        final = helper.get_final_completion()
    message = final.choices[0].message
    return {
        "id": final.id,
        "model": final.model,
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "calls": [calls[index] for index in sorted(calls)],
        "finish_reasons": finish_reasons,
        "usage": usage,
        "helper": {
            "text": message.content,
            "calls": [
                {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
                for call in message.tool_calls or []
            ],
            "finish_reason": final.choices[0].finish_reason,
            "usage": final.usage.model_dump(exclude_none=True) if final.usage else None,
        },
    }


def responses(base_url: str) -> dict:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="-", max_retries=0, timeout=60)
    tools = [{"type": "function", **TOOLS[0]["function"]}]
    types, sequence = [], []
    for event in client.responses.create(model="m", input="Weather?", tools=tools, stream=True):
        types.append(event.type)
        sequence.append(event.sequence_number)

    # The SDK's accumulating helper: it checks every event against the items it has seen.
    with client.responses.stream(model="m", input="Weather?", tools=tools) as helper:
        deltas = []
        for event in helper:
            if event.type == "response.output_text.delta":
                deltas.append(event.snapshot)
        final = helper.get_final_response()
    return {
        "types": types,
        "sequence_numbers": sequence,
        "id": final.id,
        "model": final.model,
        "status": final.status,
        "output_text": final.output_text,
        "snapshots": deltas,
        "output": [item.to_dict() for item in final.output],
        "usage": final.usage.to_dict() if final.usage else None,
    }


def messages(base_url: str) -> dict:
    client = anthropic.Anthropic(base_url=base_url, api_key="-", max_retries=0, timeout=60)
    event_types = []
    with client.messages.stream(
        model="m", max_tokens=1024, messages=MESSAGES, tools=[{
            "name": "get_weather",
            "input_schema": TOOLS[0]["function"]["parameters"],
        }]
    ) as stream:
        for event in stream:
            event_types.append(event.type)
        message = stream.get_final_message()
    return {
        "id": message.id,
        "model": message.model,
        "event_types": event_types,
        "content": [block.to_dict() for block in message.content],
        "stop_reason": message.stop_reason,
        "usage": message.usage.to_dict(),
    }


def main() -> None:
    base_url = sys.argv[1]
    print(
        json.dumps(
            {
                "versions": {"openai": openai.__version__, "anthropic": anthropic.__version__},
                "chat": chat(base_url),
                "responses": responses(base_url),
                "messages": messages(base_url),
            }
        )
    )


if __name__ == "__main__":
    main()
