"""``python -m tools.provider_sim --port N``"""

from __future__ import annotations

import argparse

import uvicorn

from tools.provider_sim.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Deterministic LLM provider simulator (OpenAI, Anthropic, Gemini, Bedrock)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18099)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
