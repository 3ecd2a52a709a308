"""Spoken replies: small, real audio files in every format chat completions can answer in, made offline.

A reply that asks for ``modalities: ["text", "audio"]`` carries ``message.audio.data``: base64 of a file in the
requested ``audio.format``. mockai makes a short clip whose length follows the transcript (80 ms a token, from
0.2 s to 1 s), mono, 24 kHz (the rate OpenAI's ``pcm16`` output has), and every file is one a decoder accepts:

- ``wav``: a 440 Hz tone, 16-bit PCM in a RIFF/WAVE file (the standard library's :mod:`wave`).
- ``pcm16``: the same tone as raw signed 16-bit little-endian samples, no header (as OpenAI sends it).
- ``flac``: the same tone, lossless: a STREAMINFO block (with the samples' MD5) and frames of VERBATIM
  subframes, with their CRC-8 and CRC-16, written here bit by bit.
- ``mp3``: silence: MPEG-2 Layer III frames (32 kbit/s, 576 samples each) whose side information and main data
  are all zero, which decoders play as silence.
- ``aac``: silence: ADTS frames of AAC-LC, each a raw data block with one channel element whose ``max_sfb`` is
  0 (no spectral data), then the END element.
- ``opus``: silence: an Ogg Opus file (``OpusHead``, ``OpusTags``, then 20 ms packets ``f8 ff fe``: a CELT
  frame with its silence flag set, the packet encoders send for digital silence).

The compressed formats carry silence because encoding a tone needs a real encoder (a psychoacoustic model and
Huffman or range coding) that the standard library does not have; silence is a valid stream of each.

>>> data = encode("wav", 200)
>>> data[:4], data[8:12]
(b'RIFF', b'WAVE')
>>> len(encode("pcm16", 200)) == 2 * SAMPLE_RATE // 5
True
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import math
import struct
import wave
from typing import Literal

AudioFormat = Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]
FORMATS: tuple[AudioFormat, ...] = ("wav", "aac", "mp3", "flac", "opus", "pcm16")

SAMPLE_RATE = 24_000
MS_PER_TOKEN = 80  # clip length per transcript token
MIN_MS, MAX_MS = 200, 1000
MS_PER_AUDIO_TOKEN = 50  # how usage counts audio: 20 tokens a second
EXPIRES_AFTER = 3600  # seconds between a reply's `created` and its audio's `expires_at`
# Bytes of audio per stream delta: a multiple of 3, so each delta's base64 stands alone and the deltas' text
# joins to the base64 of the whole file.
PIECE_BYTES = 3 * 2048


def duration_ms(transcript_tokens: int) -> int:
    """How long the clip for a transcript of that many tokens lasts."""
    return max(MIN_MS, min(MAX_MS, transcript_tokens * MS_PER_TOKEN))


def audio_tokens(ms: int) -> int:
    """Audio tokens usage reports for a clip of ``ms`` milliseconds."""
    return -(-ms // MS_PER_AUDIO_TOKEN)


@functools.lru_cache(maxsize=64)
def encode(fmt: AudioFormat, ms: int) -> bytes:
    """A file of ``fmt`` lasting about ``ms`` milliseconds (see the module docstring for what each holds)."""
    count = SAMPLE_RATE * ms // 1000
    if fmt == "wav":
        return _wav(_tone(count))
    if fmt == "pcm16":
        return _pcm(_tone(count))
    if fmt == "flac":
        return _flac(_tone(count))
    if fmt == "mp3":
        return _mp3(count)
    if fmt == "aac":
        return _aac(count)
    if fmt == "opus":
        return _opus(ms)
    raise ValueError(f"unknown audio format {fmt!r}")


def pieces(data: bytes) -> list[str]:
    """``data`` as the base64 text of consecutive stream deltas: they join to ``base64(data)``."""
    return [base64.b64encode(data[i : i + PIECE_BYTES]).decode("ascii") for i in range(0, len(data), PIECE_BYTES)]


# --- PCM -----------------------------------------------------------------------------------------------------


def _tone(count: int, hz: float = 440.0, level: float = 0.2) -> list[int]:
    """A sine at ``hz``, faded in and out over 10 ms so it does not click."""
    fade = SAMPLE_RATE // 100
    out = []
    for i in range(count):
        gain = min(1.0, i / fade, (count - 1 - i) / fade) if fade else 1.0
        out.append(int(32767 * level * gain * math.sin(2 * math.pi * hz * i / SAMPLE_RATE)))
    return out


def _pcm(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def _wav(samples: list[int]) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(_pcm(samples))
    return buf.getvalue()


# --- bits and checksums ----------------------------------------------------------------------------------------


class _Bits:
    """A big-endian bit writer (FLAC, ADTS and MPEG headers are written most significant bit first)."""

    def __init__(self) -> None:
        self.value = 0
        self.size = 0

    def put(self, value: int, width: int) -> None:
        self.value = (self.value << width) | (value & ((1 << width) - 1))
        self.size += width

    def bytes(self) -> bytes:
        pad = -self.size % 8
        return (self.value << pad).to_bytes((self.size + pad) // 8, "big")


def _crc(data: bytes, width: int, poly: int) -> int:
    """A CRC with no reflection, initial value 0 and no final XOR (FLAC's CRC-8 and CRC-16, Ogg's CRC-32)."""
    top, mask = 1 << (width - 1), (1 << width) - 1
    crc = 0
    for byte in data:
        crc ^= byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
    return crc


@functools.lru_cache(maxsize=1)
def _ogg_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return table


def _ogg_crc(data: bytes) -> int:
    table, crc = _ogg_table(), 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ byte) & 0xFF]
    return crc


# --- FLAC ----------------------------------------------------------------------------------------------------

_FLAC_BLOCK = 4096


def _flac(samples: list[int]) -> bytes:
    info = _Bits()
    info.put(_FLAC_BLOCK, 16)  # minimum block size (the last block may be shorter, as the format allows)
    info.put(_FLAC_BLOCK, 16)
    info.put(0, 24)  # minimum and maximum frame size: unknown
    info.put(0, 24)
    info.put(SAMPLE_RATE, 20)
    info.put(0, 3)  # channels - 1
    info.put(15, 5)  # bits per sample - 1
    info.put(len(samples), 36)
    streaminfo = info.bytes() + hashlib.md5(_pcm(samples)).digest()
    out = [b"fLaC", bytes([0x80]) + len(streaminfo).to_bytes(3, "big"), streaminfo]  # last block, STREAMINFO
    for number, start in enumerate(range(0, len(samples), _FLAC_BLOCK)):
        out.append(_flac_frame(number, samples[start : start + _FLAC_BLOCK]))
    return b"".join(out)


def _flac_frame(number: int, block: list[int]) -> bytes:
    head = _Bits()
    head.put(0b11111111111110, 14)  # sync code
    head.put(0, 1)
    head.put(0, 1)  # fixed block size: the frame number follows
    head.put(0b0111, 4)  # block size: 16-bit (size - 1) at the end of the header
    head.put(0b0111, 4)  # 24 kHz
    head.put(0b0000, 4)  # mono
    head.put(0b100, 3)  # 16 bits per sample
    head.put(0, 1)
    raw = head.bytes() + _utf8_number(number) + (len(block) - 1).to_bytes(2, "big")
    raw += bytes([_crc(raw, 8, 0x07)])
    sub = _Bits()
    sub.put(0, 1)
    sub.put(0b000001, 6)  # VERBATIM
    sub.put(0, 1)  # no wasted bits
    for sample in block:
        sub.put(sample, 16)
    raw += sub.bytes()
    return raw + _crc(raw, 16, 0x8005).to_bytes(2, "big")


def _utf8_number(n: int) -> bytes:
    """FLAC's frame number: UTF-8's variable-length coding of an integer."""
    if n < 0x80:
        return bytes([n])
    return chr(n).encode("utf-8")  # frames of a one-second clip never reach the surrogate range


# --- MP3 -----------------------------------------------------------------------------------------------------

_MP3_SAMPLES = 576  # per MPEG-2 Layer III frame
_MP3_FRAME = 72 * 32_000 // SAMPLE_RATE  # bytes per frame at 32 kbit/s without padding: 96


def _mp3(count: int) -> bytes:
    # 0xFFF3: sync, MPEG-2, Layer III, no CRC; 0x44: 32 kbit/s, 24 kHz, no padding; 0xC0: mono.
    frame = b"\xff\xf3\x44\xc0" + bytes(_MP3_FRAME - 4)
    return frame * -(-count // _MP3_SAMPLES)


# --- AAC -----------------------------------------------------------------------------------------------------

_AAC_SAMPLES = 1024  # per AAC-LC frame


@functools.lru_cache(maxsize=1)
def _aac_frame() -> bytes:
    block = _Bits()
    block.put(0, 3)  # single channel element
    block.put(0, 4)  # element instance tag
    block.put(100, 8)  # global gain (unused: no scale factor bands)
    block.put(0, 1)  # ics_reserved_bit
    block.put(0, 2)  # ONLY_LONG_SEQUENCE
    block.put(0, 1)  # window shape
    block.put(0, 6)  # max_sfb = 0: no sections, scale factors or spectral data
    block.put(0, 1)  # no predictor data
    block.put(0, 3)  # no pulse, TNS or gain control data
    block.put(0b111, 3)  # END element
    raw = block.bytes()
    size = 7 + len(raw)
    head = _Bits()
    head.put(0xFFF, 12)
    head.put(0, 1)  # MPEG-4
    head.put(0, 2)  # layer
    head.put(1, 1)  # no CRC
    head.put(1, 2)  # AAC LC (object type 2, minus 1)
    head.put(6, 4)  # 24 kHz
    head.put(0, 1)
    head.put(1, 3)  # one channel
    head.put(0, 4)  # original, home, copyright bits
    head.put(size, 13)
    head.put(0x7FF, 11)  # variable bit rate
    head.put(0, 2)  # one raw data block
    return head.bytes() + raw


def _aac(count: int) -> bytes:
    return _aac_frame() * -(-count // _AAC_SAMPLES)


# --- Opus ----------------------------------------------------------------------------------------------------

_OPUS_SILENCE = b"\xf8\xff\xfe"  # TOC: CELT, fullband, 20 ms, one frame; then the frame's silence flag
_OPUS_PRESKIP = 312
_OPUS_SERIAL = 0x6D6F636B  # "mock"


def _opus(ms: int) -> bytes:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, _OPUS_PRESKIP, SAMPLE_RATE, 0, 0)
    vendor = b"mockai"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    frames = -(-ms // 20)
    pages = [_ogg_page([head], 0, 0, 0x02), _ogg_page([tags], 0, 1, 0)]
    sequence, done = 2, 0
    while done < frames:
        batch = min(frames - done, 255)
        done += batch
        granule = _OPUS_PRESKIP + done * 960  # 48 kHz samples, whatever the input rate
        pages.append(_ogg_page([_OPUS_SILENCE] * batch, granule, sequence, 0x04 if done == frames else 0))
        sequence += 1
    return b"".join(pages)


def _ogg_page(packets: list[bytes], granule: int, sequence: int, flags: int) -> bytes:
    lacing = b""
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    header = (b"OggS" + struct.pack("<BBqIII", 0, flags, granule, _OPUS_SERIAL, sequence, 0)
              + bytes([len(lacing)]) + lacing)
    page = header + b"".join(packets)
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]
