"""Tokenising log-probability requests: one text at a time vs one batch call, side by side.

The scores stage turns each MMLU question into engine requests whose token ids it builds itself
(arena.scoring.vllm_logprobs): the prompt, and prompt + each option, so it knows where each
option's tokens start. On the H200 machine the stage spent ~3 ms per 5-shot question outside
the engine (docs/PERFORMANCE.md, "Scores"); encoding those texts one call at a time was the
cause. This bench builds the same requests for MMLU's 1,022 questions of the GPU bench with a
real fast tokenizer (a byte-level BPE trained here on the questions, wrapped as Transformers'
PreTrainedTokenizerFast, the class vLLM hands out for such models) and times
`VllmLogprobs.engine_requests` both ways: text by text (the old path) and after `encode_all`
(one batch call per chunk, the path the stage takes now). It checks both give the same token ids.

Needs `tokenizers` and `transformers` (not project dependencies: pip install them to run it).

    python bench/bench_tokenize.py [--mmlu DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.providers.base import CONTINUATION  # noqa: E402
from arena.scoring.tasks import Task, logprob_request  # noqa: E402
from arena.scoring.vllm_logprobs import VllmLogprobs  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from bench_scores_gpu import DEFAULT_SUBJECTS, find_mmlu, prepare  # noqa: E402


class Params:
    """SamplingParams stand-in: the bench times tokenising, not the engine."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


def tokenizer_for(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mmlu", help="folder with MMLU's test/ and dev/ (default: ../shared/data/mmlu, then bench/data/mmlu)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=32000)
    args = parser.parse_args(argv)
    options = SimpleNamespace(subjects=",".join(DEFAULT_SUBJECTS), k_shot=5, limit=None, max_tokens=8)
    bench = prepare(options, find_mmlu(args.mmlu), "m")
    prompts = [Task(bench, "letter_logprob", item).prompt for item in bench.items]
    tokenizer = tokenizer_for(prompts, args.vocab)
    figures = {}
    for style in ("letter_logprob", "text_logprob"):
        requests = [logprob_request(Task(bench, style, item), "m", frozenset({CONTINUATION})) for item in bench.items]
        llm = SimpleNamespace(get_tokenizer=lambda: tokenizer,
                              llm_engine=SimpleNamespace(model_config=SimpleNamespace(max_model_len=1 << 20)))
        scorer = VllmLogprobs(llm, sampling_params=Params)
        one, batch = [], []
        for _ in range(args.rounds):  # alternate, so drift in the machine hits both paths
            start = time.perf_counter()
            old = [scorer.engine_requests(i, r) for i, r in enumerate(requests)]
            one.append(time.perf_counter() - start)
            start = time.perf_counter()
            encoded = scorer.encode_all(requests)
            new = [scorer.engine_requests(i, r, encoded) for i, r in enumerate(requests)]
            batch.append(time.perf_counter() - start)
        same = [[j.prompt_ids for j in jobs] for jobs in old] == [[j.prompt_ids for j in jobs] for jobs in new]
        if not same:
            print(f"error: {style}: batch encoding gave other token ids than one text at a time", file=sys.stderr)
            return 1
        figures[style] = (min(one), min(batch))
        print(f"{style:<15} {len(requests)} questions: one text at a time {min(one) * 1e3 / len(requests):.2f} ms/question, "
              f"one batch call {min(batch) * 1e3 / len(requests):.2f} ms/question: {min(one) / min(batch):.1f}x "
              f"(rounds: {statistics.median(one):.2f} s vs {statistics.median(batch):.2f} s median); same token ids")
    return 0


if __name__ == "__main__":
    sys.exit(main())
