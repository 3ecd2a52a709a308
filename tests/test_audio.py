"""Spoken replies (``modalities: ["text", "audio"]``): ``message.audio`` with a real file in each format that a
real decoder (FFmpeg, through PyAV) reads, its transcript, id and expiry, ``audio_tokens`` in usage, the audio
deltas of streams, and the 400s; through the engine and the real SDK."""

from __future__ import annotations

import base64
import io
import typing
import wave
from typing import Any

import av
import openai
import pytest
from conftest import assert_envelope, chat_body, post, reply, stream, strict_chunks
from openai.types.chat import ChatCompletionAudioParam

from mockai import Engine, MockAI, audio, tokens, wire
from mockai.server import ServerThread

MODEL = "gpt-4o-audio-preview"
FORMATS = list(audio.FORMATS)


def spoken(fmt: str = "wav", **params: Any) -> dict[str, Any]:
    return {**chat_body("Say something about lighthouses.", **params), "model": MODEL,
            "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": fmt}}


def decode(data: bytes, fmt: str) -> tuple[int, int, str]:
    """``(sample rate, samples, codec)`` as FFmpeg decodes ``data``; raw ``pcm16`` is read as s16le mono."""
    options: dict[str, Any] = {}
    if fmt == "pcm16":
        options = {"format": "s16le", "options": {"sample_rate": str(audio.SAMPLE_RATE), "ch_layout": "mono"}}
    with av.open(io.BytesIO(data), **options) as container:
        stream_ = container.streams.audio[0]
        count, rate = 0, 0
        for frame in container.decode(stream_):
            count += frame.samples
            rate = frame.sample_rate
        return rate, count, stream_.codec_context.name


def test_formats_match_the_sdk() -> None:
    """Drift check: mockai accepts and makes every format the SDK's ``audio`` parameter can ask for, no other."""
    sdk = set(typing.get_args(typing.get_type_hints(ChatCompletionAudioParam)["format"]))
    assert set(FORMATS) == sdk
    assert set(typing.get_args(wire.AudioParam.model_fields["format"].annotation)) == sdk


@pytest.mark.parametrize("fmt", FORMATS)
def test_reply_carries_a_real_file_of_the_asked_format(engine: Engine, fmt: str) -> None:
    body = reply(engine, spoken(fmt))
    msg = body["choices"][0]["message"]
    assert msg["content"] is None
    spoken_ = msg["audio"]
    assert set(spoken_) == {"id", "data", "expires_at", "transcript"}
    assert spoken_["id"].startswith("audio_")
    assert spoken_["expires_at"] == body["created"] + 3600
    assert spoken_["transcript"]
    data = base64.b64decode(spoken_["data"], validate=True)
    rate, count, codec = decode(data, fmt)
    seconds = (count / rate) if rate else 0
    expected = audio.duration_ms(len(tokens.split(spoken_["transcript"]))) / 1000
    assert abs(seconds - expected) < 0.05, (fmt, seconds, expected)
    assert codec.startswith({"wav": "pcm_s16le", "pcm16": "pcm_s16le", "mp3": "mp3", "aac": "aac",
                             "flac": "flac", "opus": "opus"}[fmt])
    assert len(data) < 64 * 1024, "a small file"


def test_wav_and_flac_hold_the_same_tone(engine: Engine) -> None:
    wav = base64.b64decode(reply(engine, spoken("wav"))["choices"][0]["message"]["audio"]["data"])
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, audio.SAMPLE_RATE)
        pcm = w.readframes(w.getnframes())
    flac = base64.b64decode(reply(engine, spoken("flac"))["choices"][0]["message"]["audio"]["data"])
    with av.open(io.BytesIO(flac)) as container:
        decoded = b"".join(bytes(frame.planes[0])[: frame.samples * 2] for frame in container.decode(audio=0))
    assert decoded == pcm, "FLAC is lossless: it decodes to the WAV's samples"
    assert max(abs(int.from_bytes(pcm[i:i + 2], "little", signed=True)) for i in range(0, len(pcm), 2)) > 1000


def test_usage_counts_audio_tokens(engine: Engine) -> None:
    body = reply(engine, spoken("mp3", n=2))
    usage = body["usage"]
    details = usage["completion_tokens_details"]
    transcripts = [c["message"]["audio"]["transcript"] for c in body["choices"]]
    text = sum(len(tokens.split(t)) for t in transcripts)
    voice = sum(audio.audio_tokens(audio.duration_ms(len(tokens.split(t)))) for t in transcripts)
    assert details["audio_tokens"] == voice > 0
    assert details["text_tokens"] == text
    assert usage["completion_tokens"] == text + voice
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert "text_tokens" not in reply(engine, chat_body("Hi"))["usage"]["completion_tokens_details"]


def test_audio_ids_are_unique_per_choice_and_call(engine: Engine) -> None:
    ids = [c["message"]["audio"]["id"] for _ in range(3) for c in reply(engine, spoken(n=3))["choices"]]
    assert len(set(ids)) == 9


def test_same_request_same_audio(make_engine: Any) -> None:
    a = reply(make_engine(seed=3), spoken("opus"))["choices"][0]["message"]["audio"]
    b = reply(make_engine(seed=3), spoken("opus"))["choices"][0]["message"]["audio"]
    assert a == b


def test_tool_calls_are_not_spoken(engine: Engine) -> None:
    from conftest import WEATHER_TOOL

    body = reply(engine, spoken(tools=[WEATHER_TOOL], tool_choice="required"))
    msg = body["choices"][0]["message"]
    assert "audio" not in msg
    assert msg["tool_calls"]
    assert body["usage"]["completion_tokens_details"]["audio_tokens"] == 0


def test_scripted_text_is_spoken() -> None:
    with MockAI() as mock:
        mock.on().reply("Hello there, keeper.")
        completion = mock.client().chat.completions.create(
            model="gpt-audio-mini", messages=[{"role": "user", "content": "Hi"}], modalities=["text", "audio"],
            audio={"voice": "coral", "format": "flac"})
        message = completion.choices[0].message
        assert message.content is None
        assert message.audio is not None
        assert message.audio.transcript == "Hello there, keeper."
        assert decode(base64.b64decode(message.audio.data), "flac")[2] == "flac"


# --- streams -------------------------------------------------------------------------------------------------


def fold(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each choice's audio folded from its deltas, and where its finish came."""
    out: dict[int, dict[str, Any]] = {}
    for position, chunk in enumerate(chunks):
        for c in chunk["choices"]:
            d = out.setdefault(c["index"], {"id": None, "data": "", "transcript": "", "expires_at": None,
                                            "finish": None, "expires_position": None, "content": None})
            part = c["delta"].get("audio")
            if part is not None:
                if "id" in part:
                    assert d["id"] is None, "the id comes once"
                    d["id"] = part["id"]
                d["data"] += part.get("data", "")
                d["transcript"] += part.get("transcript", "")
                if "expires_at" in part:
                    assert set(part) == {"expires_at"}, "the last audio delta carries only its expiry"
                    d["expires_at"], d["expires_position"] = part["expires_at"], position
            if c["delta"].get("content"):
                d["content"] = (d["content"] or "") + c["delta"]["content"]
            if c["finish_reason"] is not None:
                d["finish"] = (c["finish_reason"], position)
    return out


@pytest.mark.parametrize("fmt", ["pcm16", "wav", "mp3"])
def test_stream_reassembles_to_the_reply(make_engine: Any, fmt: str) -> None:
    body = spoken(fmt, n=2)
    whole = reply(make_engine(seed=8), body)
    chunks = stream(make_engine(seed=8), body)
    folded = fold(chunks)
    for choice in whole["choices"]:
        got, want = folded[choice["index"]], choice["message"]["audio"]
        assert got["content"] is None
        assert got["transcript"] == want["transcript"]
        assert got["data"] == want["data"]
        assert got["id"].startswith("audio_")
        assert got["expires_at"] == want["expires_at"]
        assert got["finish"][0] == choice["finish_reason"]
        assert got["expires_position"] > got["finish"][1], "expiry comes after the finish chunk"
    first = chunks[0]["choices"][0]["delta"]
    assert first == {"role": "assistant", "content": None, "refusal": None}


def test_each_data_delta_is_base64_on_its_own(engine: Engine) -> None:
    chunks = stream(engine, spoken("pcm16"))
    pieces = [c["choices"][0]["delta"]["audio"]["data"] for c in chunks
              if c["choices"] and "data" in (c["choices"][0]["delta"].get("audio") or {})]
    assert len(pieces) > 1
    joined = b"".join(base64.b64decode(p, validate=True) for p in pieces)
    assert joined == base64.b64decode("".join(pieces))


def test_stream_usage_counts_audio(engine: Engine) -> None:
    chunks = stream(engine, spoken("aac", stream_options={"include_usage": True}))
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"]["audio_tokens"] > 0
    strict_chunks(chunks)


def test_sdk_stream_and_stream_helper(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}],
                              "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}
    transcript, data = "", ""
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        part = chunk.choices[0].delta.audio if chunk.choices else None
        if part is not None:
            transcript += part.transcript or ""
            data += part.data or ""
    assert transcript
    rate, count, _ = decode(base64.b64decode(data), "pcm16")
    assert rate == audio.SAMPLE_RATE
    assert count > 0
    with client.chat.completions.stream(**kwargs) as events:
        final = events.get_final_completion()
    assert final.choices[0].message.audio is not None
    assert final.choices[0].message.audio.transcript
    assert final.choices[0].message.audio.expires_at == final.created + 3600
    parsed = client.chat.completions.parse(**kwargs)
    assert parsed.choices[0].message.audio is not None


@pytest.mark.asyncio
async def test_async_sdk(served: ServerThread) -> None:
    async with openai.AsyncOpenAI(base_url=served.base_url, api_key="sk-test", max_retries=0) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini-audio-preview", messages=[{"role": "user", "content": "Hi"}],
            modalities=["text", "audio"], audio={"voice": {"id": "voice_123"}, "format": "opus"})
        assert completion.choices[0].message.audio is not None
        assert decode(base64.b64decode(completion.choices[0].message.audio.data), "opus")[2] == "opus"
        assert completion.model == "gpt-4o-mini-audio-preview-2024-12-17"


# --- the 400s ------------------------------------------------------------------------------------------------


def test_audio_output_needs_the_audio_parameter(engine: Engine) -> None:
    body = spoken()
    del body["audio"]
    err = assert_envelope(post(engine, body), 400, param="audio", code="missing_required_parameter")
    assert err["message"] == "Missing required parameter: 'audio'."


@pytest.mark.parametrize("model", ["gpt-4o-mini", "o3", "gpt-4.1"])
def test_models_that_cannot_speak(engine: Engine, model: str) -> None:
    assert_envelope(post(engine, {**spoken(), "model": model}), 400, param="modalities", code="unsupported_value")


def test_audio_models_need_audio_in_or_out(engine: Engine) -> None:
    err = assert_envelope(post(engine, {**chat_body("Hi"), "model": MODEL}), 400, param="model")
    assert "either input content or output modality contain audio" in err["message"]
    wav = base64.b64encode(audio.encode("wav", 200)).decode()
    heard = {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "input_audio", "input_audio": {"data": wav,
                                                                                          "format": "wav"}}]}]}
    assert reply(engine, heard)["choices"][0]["message"]["content"]


@pytest.mark.parametrize(("audio_param", "param"), [
    ({"voice": "alloy", "format": "ogg"}, "audio.format"),
    ({"voice": "alloy"}, "audio.format"),
    ({"format": "wav"}, "audio.voice"),
])
def test_bad_audio_parameter(engine: Engine, audio_param: dict[str, Any], param: str) -> None:
    assert_envelope(post(engine, {**spoken(), "audio": audio_param}), 400, param=param)


def test_unknown_models_may_speak(engine: Engine) -> None:
    body = reply(engine, {**spoken("wav"), "model": "my-voice-model"})
    assert body["choices"][0]["message"]["audio"]["transcript"]
