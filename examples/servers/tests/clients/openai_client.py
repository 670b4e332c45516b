"""Reads the chat server and the proxy with OpenAI's official Python SDK.

Run by tests/real_clients.rs as `python openai_client.py REQUESTS_JSON`, where REQUESTS_JSON
is a list of {"base_url", "prompt", "stream", "extra_body"}. Prints a JSON list with, for each
request, what the SDK returned (the text, the finish reasons) or the error it raised, for the
Rust test to compare with the expected answers.
"""

import json
import sys

import openai


def run(request: dict) -> dict:
    client = openai.OpenAI(
        base_url=request["base_url"], api_key="not-needed", max_retries=0, timeout=60
    )
    messages = [{"role": "user", "content": request["prompt"]}]
    extra_body = request.get("extra_body", {})
    text, chunks, finish_reasons = [], 0, []
    try:
        if request["stream"]:
            stream = client.chat.completions.create(
                model="tokenflush-sim", messages=messages, stream=True, extra_body=extra_body
            )
            for chunk in stream:
                chunks += 1
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.delta.content:
                    text.append(choice.delta.content)
                if choice.finish_reason:
                    finish_reasons.append(choice.finish_reason)
        else:
            completion = client.chat.completions.create(
                model="tokenflush-sim", messages=messages, extra_body=extra_body
            )
            text.append(completion.choices[0].message.content)
            finish_reasons.append(completion.choices[0].finish_reason)
    except openai.APIError as error:
        # The text that arrived before the error, and the error the SDK raised.
        return {
            "text": "".join(text),
            "error_type": type(error).__name__,
            "error_message": error.message,
        }
    return {"text": "".join(text), "chunks": chunks, "finish_reasons": finish_reasons}


def main() -> None:
    requests = json.loads(sys.argv[1])
    print(json.dumps({"sdk_version": openai.__version__, "results": [run(r) for r in requests]}))


if __name__ == "__main__":
    main()
