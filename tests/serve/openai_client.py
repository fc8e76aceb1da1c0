"""The official OpenAI Python client against `lore serve`.

Usage: openai_client.py BASE_URL MODEL
Prints one JSON object with what each call returned; the Rust test asserts
on it. Every call has a timeout, so a hung server fails the test.
"""
import json
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", timeout=120, max_retries=0)
out = {}

out["models"] = [m.id for m in client.models.list().data]

reply = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    max_tokens=8,
    temperature=0,
)
out["text"] = reply.choices[0].message.content
out["finish_reason"] = reply.choices[0].finish_reason
out["completion_tokens"] = reply.usage.completion_tokens

pieces = []
finish = None
stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    max_tokens=8,
    temperature=0,
    stream=True,
)
for chunk in stream:
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
out["streamed"] = "".join(pieces)
out["stream_chunks"] = len(pieces)
out["stream_finish_reason"] = finish

try:
    client.chat.completions.create(
        model="no-such-model",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
    )
    out["unknown_model"] = "accepted"
except openai.NotFoundError as e:
    out["unknown_model"] = {"status": e.status_code, "message": str(e)}
except openai.APIStatusError as e:
    out["unknown_model"] = {"status": e.status_code, "message": str(e)}

print(json.dumps(out))
