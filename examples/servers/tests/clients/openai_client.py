"""Reads the chat server and the proxy with OpenAI's official Python SDK.

Run by tests/real_clients.rs as `python openai_client.py REQUESTS_JSON`, where REQUESTS_JSON
is a list of {"base_url", "prompt", "stream", "extra_body"} with optional "api" ("chat", the
default, or "responses"), "tools" (a list of {"name", "parameters"}), "reasoning" (true for
reasoning first), "include_usage" (chat streams) and "expect_error" (a chat stream that fails
mid-answer: the text before the error is kept). Prints a JSON list with, for each
request, what the SDK returned (the text, the reasoning, the tool calls, the finish reasons or
status, the usage) or the error it raised, for the Rust test to compare with the expected
answers.
"""

import json
import sys

import openai


def chat(client: openai.OpenAI, request: dict) -> dict:
    arguments = dict(
        model="tokenflush-sim",
        messages=[{"role": "user", "content": request["prompt"]}],
        extra_body=request.get("extra_body", {}),
    )
    if request.get("tools"):
        arguments["tools"] = [
            {"type": "function", "function": {"name": t["name"], "parameters": t["parameters"]}}
            for t in request["tools"]
        ]
    if request.get("reasoning"):
        arguments["reasoning_effort"] = "low"
    text, reasoning, chunks, finish_reasons, usage = [], [], 0, [], None
    calls: dict = {}
    if not request["stream"]:
        completion = client.chat.completions.create(**arguments)
        message = completion.choices[0].message
        return {
            "text": message.content or "",
            "reasoning": (message.model_extra or {}).get("reasoning_content") or "",
            "calls": [
                {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                for c in message.tool_calls or []
            ],
            "finish_reasons": [completion.choices[0].finish_reason],
            "usage": completion.usage.model_dump(exclude_none=True) if completion.usage else None,
        }
    if request.get("include_usage"):
        arguments["stream_options"] = {"include_usage": True}
    for chunk in client.chat.completions.create(stream=True, **arguments):
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage.model_dump(exclude_none=True)
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
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
    return {
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "calls": [calls[index] for index in sorted(calls)],
        "chunks": chunks,
        "finish_reasons": finish_reasons,
        "usage": usage,
    }


def responses(client: openai.OpenAI, request: dict) -> dict:
    arguments = dict(
        model="tokenflush-sim",
        input=request["prompt"],
        extra_body=request.get("extra_body", {}),
    )
    if request.get("tools"):
        arguments["tools"] = [
            {"type": "function", "name": t["name"], "parameters": t["parameters"]}
            for t in request["tools"]
        ]
    if request.get("reasoning"):
        arguments["reasoning"] = {"effort": "low"}
    if request["stream"]:
        text, reasoning, types, final = [], [], [], None
        for event in client.responses.create(stream=True, **arguments):
            types.append(event.type)
            if event.type == "response.output_text.delta":
                text.append(event.delta)
            elif event.type in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
                reasoning.append(event.delta)
            elif event.type in ("response.completed", "response.incomplete"):
                final = event.response
        summary = summarize(final)
        summary["streamed_text"] = "".join(text)
        summary["streamed_reasoning"] = "".join(reasoning)
        summary["event_types"] = types
        return summary
    return summarize(client.responses.create(**arguments))


def summarize(response) -> dict:
    """What a Responses API response object holds, as the SDK parsed it."""
    reasoning = []
    calls = []
    for item in response.output:
        if item.type == "reasoning":
            reasoning.extend(part.text for part in item.content or [])
        elif item.type == "function_call":
            calls.append({"id": item.call_id, "name": item.name, "arguments": item.arguments})
    return {
        "id": response.id,
        "text": response.output_text,
        "reasoning": "".join(reasoning),
        "calls": calls,
        "status": response.status,
        "usage": response.usage.to_dict() if response.usage else None,
    }


def run(request: dict) -> dict:
    client = openai.OpenAI(
        base_url=request["base_url"], api_key="not-needed", max_retries=0, timeout=60
    )
    try:
        if request.get("api") == "responses":
            return responses(client, request)
        return chat(client, request)
    except openai.APIError as error:
        return {"error_type": type(error).__name__, "error_message": error.message}


def run_failing(request: dict) -> dict:
    """A chat stream that fails mid-answer: the text before the error, and the error."""
    client = openai.OpenAI(
        base_url=request["base_url"], api_key="not-needed", max_retries=0, timeout=60
    )
    text = []
    try:
        stream = client.chat.completions.create(
            model="tokenflush-sim",
            messages=[{"role": "user", "content": request["prompt"]}],
            stream=True,
            extra_body=request.get("extra_body", {}),
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
    except openai.APIError as error:
        return {
            "text": "".join(text),
            "error_type": type(error).__name__,
            "error_message": error.message,
        }
    return {"text": "".join(text), "error_type": None}


def main() -> None:
    requests = json.loads(sys.argv[1])
    results = [run_failing(r) if r.get("expect_error") else run(r) for r in requests]
    print(json.dumps({"sdk_version": openai.__version__, "results": results}))


if __name__ == "__main__":
    main()
