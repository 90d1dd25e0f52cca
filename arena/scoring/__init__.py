"""Rule-based benchmark scores: multiple choice in three styles, and exact match.

datasets.py reads items (MMLU's CSVs, JSONL, a user's CSV with a column mapping); prompts.py
builds the prompts, few-shot included; styles.py and normalize.py turn log-probabilities and
generations into predictions (pure functions); stats.py holds the accuracy interval; rows.py the
records of scores/<model>.jsonl and scores/summary.csv; plan.py checks a config's benchmarks
against what each provider can do; vllm_logprobs.py computes log-probabilities with vLLM's `LLM`.
The stage that runs them is arena.stages.scores.
"""
