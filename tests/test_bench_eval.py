"""The evaluation benchmark runs end to end in quick mode and finds torchreid's numbers equal to ours."""

from toplight_plugin.cli.bench_eval import QUICK, make_case, run
from toplight_plugin.evaluation import FeatureDistances, evaluate_regdb


def test_quick_benchmark_agrees_with_torchreid(tmp_path):
    sizes = {name: (q // 2, g // 2, ids // 2) for name, (q, g, ids) in QUICK.items()}
    table, agree = run(sizes, torchreid_queries=50, repeats=1, isolate=False)
    assert agree
    assert "measured on 50 queries, x5" in table and table.count("| yes |") == 3


def test_cases_are_learnable_and_deterministic():
    a, b = make_case(100, 300, 30), make_case(100, 300, 30)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    q_feat, g_feat, q_pids, g_pids = a
    assert evaluate_regdb(FeatureDistances(q_feat, g_feat), q_pids, g_pids)["cmc"][0] > 0.5
