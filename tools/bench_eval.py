"""Time the evaluator against torchreid's ``evaluate_rank`` (also the console script ``toplight-bench-eval``)."""

from toplight_plugin.cli.bench_eval import main

if __name__ == "__main__":
    main()
