from unlearnkit.methods.templates import load_refusals, pick_refusal


def test_refusal_list_is_long_clean_and_varied():
    refusals = load_refusals()
    assert len(refusals) >= 60
    assert len(set(refusals)) == len(refusals)
    assert all(r and r == r.strip() and "\n" not in r for r in refusals)


def test_load_refusals_returns_a_fresh_list():
    first = load_refusals()
    first.clear()
    assert load_refusals()


def test_pick_refusal_is_deterministic_and_cycles_through_all():
    refusals = load_refusals()
    n = len(refusals)
    picks = [pick_refusal(i, seed=1) for i in range(n)]
    assert picks == [pick_refusal(i, seed=1) for i in range(n)]
    assert sorted(picks) == sorted(refusals)  # each one once per cycle
    assert pick_refusal(n + 5, seed=1) == pick_refusal(5, seed=1)


def test_pick_refusal_depends_on_seed():
    n = len(load_refusals())
    a = [pick_refusal(i, seed=0) for i in range(n)]
    b = [pick_refusal(i, seed=1) for i in range(n)]
    assert a != b
    assert pick_refusal(3) == a[3]
