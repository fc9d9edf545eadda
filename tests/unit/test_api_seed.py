"""The seeder's users are deterministic and skewed, so load tests can log in without a database."""
from stack.api.passwords import hash_password, verify_password
from stack import lab_probe
from stack.api.seed import SCALES, logins, probe_login, users_per_tenant


def test_medium_is_big_enough_and_skewed():
    medium = SCALES["medium"]
    counts = users_per_tenant(medium)
    assert medium.tenants >= 50 and sum(counts) == medium.users >= 5000 and medium.incidents >= 500_000
    assert counts[0] > 10 * counts[-1] and min(counts) >= 2


def test_logins_are_stable_and_match_the_documented_names():
    first = logins("small")[0]
    assert (first.username, first.password, first.tenant_id) == ("user1", "password-1", 1)
    assert logins("small") == logins("small")


def test_passwords_verify_only_with_the_right_secret():
    stored = hash_password("password-7", salt="seed000007", iterations=1000)
    assert verify_password("password-7", stored) and not verify_password("password-8", stored)
    assert not verify_password("password-7", "garbage")


def test_the_probe_user_is_alone_in_its_tenant_and_never_drawn_by_the_load():
    probe = probe_login()
    assert (probe.user_id, probe.tenant_id, probe.username) == (lab_probe.USER_ID, lab_probe.TENANT_ID,
                                                                lab_probe.USERNAME)
    for scale in SCALES:
        seeded = logins(scale)
        assert probe.tenant_id > SCALES[scale].tenants and probe.user_id > len(seeded)
        assert all(u.username != probe.username and u.tenant_id != probe.tenant_id for u in seeded)
