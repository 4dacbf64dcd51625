"""The request grammar: the structured form, the free-text phrasings and the refusals."""

from __future__ import annotations

import pytest

from domain.intent.model import IntentChange, IntentTarget
from domain.intent.parse import IntentBounds, IntentRefused, bounds_from_policy_data, parse_intent

SHOP_CHECKOUT = IntentTarget(namespace="shop", name="checkout")
CHECKOUT = IntentTarget(name="checkout")
CART = IntentTarget(name="cart")
LEDGER = IntentTarget(name="ledger")
PAYMENTS_LEDGER = IntentTarget(namespace="payments", name="ledger")
IMAGE = "ghcr.io/acme/checkout:1.14.0"


def _change(kind: str, target: IntentTarget, form: str = "free_text", **fields: object) -> IntentChange:
    return IntentChange.model_validate({"kind": kind, "target": target, "form": form, **fields})


STRUCTURED = [
    ("scale shop/checkout 6", _change("scale", SHOP_CHECKOUT, "structured", replicas=6)),
    (
        f"set-image shop/checkout checkout={IMAGE}",
        _change("set_image", SHOP_CHECKOUT, "structured", container="checkout", image=IMAGE),
    ),
    (f"set-image shop/checkout {IMAGE}", _change("set_image", SHOP_CHECKOUT, "structured", image=IMAGE)),
    (
        "set-resources shop/cart memory=1Gi",
        _change(
            "set_resources",
            IntentTarget(namespace="shop", name="cart"),
            "structured",
            limits={"memory": "1Gi"},
        ),
    ),
    (
        "set-resources shop/cart cart memory=1Gi cpu=500m",
        _change(
            "set_resources",
            IntentTarget(namespace="shop", name="cart"),
            "structured",
            container="cart",
            limits={"memory": "1Gi"},
            requests={"cpu": "500m"},
        ),
    ),
    (
        "set-resources shop/cart requests.memory=512Mi limits.cpu=2",
        _change(
            "set_resources",
            IntentTarget(namespace="shop", name="cart"),
            "structured",
            requests={"memory": "512Mi"},
            limits={"cpu": "2"},
        ),
    ),
    ("rollback payments/ledger", _change("rollback_revision", PAYMENTS_LEDGER, "structured")),
    ("rollback payments/ledger 3", _change("rollback_revision", PAYMENTS_LEDGER, "structured", revision=3)),
    ("restart payments/ledger", _change("restart", PAYMENTS_LEDGER, "structured")),
    ("sync-app shop", _change("sync_application", IntentTarget(name="shop"), "structured")),
    ("SCALE shop/checkout 6", _change("scale", SHOP_CHECKOUT, "structured", replicas=6)),
]

FREE_TEXT = [
    # scale
    ("scale checkout in shop to 6 replicas for the sale", _change("scale", SHOP_CHECKOUT, replicas=6)),
    ("scale checkout to 6", _change("scale", CHECKOUT, replicas=6)),
    ("Scale up shop/checkout to 8 pods", _change("scale", SHOP_CHECKOUT, replicas=8)),
    (
        "please scale the checkout deployment in the shop namespace to 4 replicas.",
        _change("scale", SHOP_CHECKOUT, replicas=4),
    ),
    ("set the replicas of checkout to 5", _change("scale", CHECKOUT, replicas=5)),
    ("set checkout replicas to 3", _change("scale", CHECKOUT, replicas=3)),
    ("run 6 replicas of checkout in shop", _change("scale", SHOP_CHECKOUT, replicas=6)),
    ("give checkout 6 replicas", _change("scale", CHECKOUT, replicas=6)),
    ("bump checkout to 6 replicas before the launch", _change("scale", CHECKOUT, replicas=6)),
    ("checkout should run 4 instances", _change("scale", CHECKOUT, replicas=4)),
    ("checkout to 6 replicas", _change("scale", CHECKOUT, replicas=6)),
    ("can you scale down checkout to 2", _change("scale", CHECKOUT, replicas=2)),
    # memory
    ("give cart 1Gi of memory", _change("set_resources", CART, limits={"memory": "1Gi"})),
    ("give cart 512Mi memory", _change("set_resources", CART, limits={"memory": "512Mi"})),
    ("give cart memory of 2Gi", _change("set_resources", CART, limits={"memory": "2Gi"})),
    ("raise the memory limit of cart to 1Gi", _change("set_resources", CART, limits={"memory": "1Gi"})),
    (
        "set memory for shop/cart to 768Mi",
        _change("set_resources", IntentTarget(namespace="shop", name="cart"), limits={"memory": "768Mi"}),
    ),
    (
        "increase cart's memory to 1Gi because it keeps getting OOMKilled",
        _change("set_resources", CART, limits={"memory": "1Gi"}),
    ),
    ("cart needs 1Gi of memory", _change("set_resources", CART, limits={"memory": "1Gi"})),
    ("give cart 2GB of ram", _change("set_resources", CART, limits={"memory": "2G"})),
    # cpu
    ("give cart 500m cpu", _change("set_resources", CART, requests={"cpu": "500m"})),
    ("set the cpu of cart to 2 cores", _change("set_resources", CART, requests={"cpu": "2"})),
    ("raise cart cpu to 250m", _change("set_resources", CART, requests={"cpu": "250m"})),
    # image
    (f"bump checkout to {IMAGE}", _change("set_image", CHECKOUT, image=IMAGE)),
    (f"update shop/checkout to {IMAGE} after the build", _change("set_image", SHOP_CHECKOUT, image=IMAGE)),
    (f"deploy {IMAGE} to checkout in shop", _change("set_image", SHOP_CHECKOUT, image=IMAGE)),
    (f"set the image of checkout to {IMAGE}", _change("set_image", CHECKOUT, image=IMAGE)),
    (f"roll out {IMAGE} to checkout", _change("set_image", CHECKOUT, image=IMAGE)),
    ("upgrade checkout to version 1.14.0", _change("set_image", CHECKOUT, image_tag="1.14.0")),
    ("deploy v2.3.1 of checkout", _change("set_image", CHECKOUT, image_tag="v2.3.1")),
    ("update checkout to nginx:1.27", _change("set_image", CHECKOUT, image="nginx:1.27")),
    # rollback
    ("roll the ledger back to yesterday's version", _change("rollback_revision", LEDGER)),
    ("roll back payments/ledger", _change("rollback_revision", PAYMENTS_LEDGER)),
    ("rollback ledger to the previous version", _change("rollback_revision", LEDGER)),
    ("roll back ledger to revision 3", _change("rollback_revision", LEDGER, revision=3)),
    ("revert ledger to the last good release", _change("rollback_revision", LEDGER)),
    ("undo the last deploy of ledger in payments", _change("rollback_revision", PAYMENTS_LEDGER)),
    ("go back to the previous version of ledger", _change("rollback_revision", LEDGER)),
    # restart
    ("restart the pods of checkout", _change("restart", CHECKOUT)),
    ("bounce ledger in payments", _change("restart", PAYMENTS_LEDGER)),
    ("do a rolling restart of checkout", _change("restart", CHECKOUT)),
    ("could you please restart the ledger deployment now", _change("restart", LEDGER)),
    # sync
    ("sync the shop app in argo cd", _change("sync_application", IntentTarget(name="shop"))),
    ("resync application shop", _change("sync_application", IntentTarget(name="shop"))),
]


def test_the_grammar_reads_at_least_thirty_phrasings() -> None:
    assert len(FREE_TEXT) >= 30


@pytest.mark.parametrize(
    ("words", "expected"), STRUCTURED + FREE_TEXT, ids=[w for w, _ in STRUCTURED + FREE_TEXT]
)
def test_words_read_as_one_typed_change(words: str, expected: IntentChange) -> None:
    assert parse_intent(words) == expected


REFUSALS = [
    ("make it faster", "could not read 'make it faster' as a change; try:"),
    ("", "the request is empty"),
    ("   ", "the request is empty"),
    ("scale checkout to 10000 replicas", "10000 replicas is more than the policy's maximum of 50"),
    ("scale shop/checkout 10,000", "10000 replicas is more than the policy's maximum of 50"),
    ("scale shop/checkout 0", "scaling to zero replicas"),
    ("give cart 1Ti of memory", "1Ti of memory is more than the most a request may ask for (256Gi)"),
    ("set-resources shop/cart memory=1Mi", "1Mi of memory is below the policy's floor of 16Mi"),
    ("set-resources shop/cart cpu=1000", "1000 of CPU is more than"),
    ("set-resources shop/cart", "set-resources needs at least one of memory=, cpu="),
    ("set-resources shop/cart disk=1Gi", "'disk=1Gi' is not a resource setting"),
    ("scale shop/checkout", "usage: scale NS/NAME REPLICAS"),
    ("set-image shop/checkout not an image", "usage: set-image"),
    ("set-image shop/checkout checkout=UPPER/Case", "is not an image reference"),
    ("restart Shop_Checkout", "not a valid workload name"),
    ("rollback payments/ledger zero", "is not a revision number"),
    ("scale checkout\x00 to 3", "control or formatting characters"),
    ("restart checkout\u202e", "control or formatting characters"),
    ("x" * 501, "the request is 501 characters; at most 500 are read"),
    ("kubectl delete deployment checkout", "could not read"),
    ("restart checkout; rm -rf /", "'checkout;' is not a valid workload name"),
    ("restart checkout && rm -rf /", "usage: restart NS/NAME"),
    ("scale shop/checkout in staging to 3 replicas", "names namespace shop, but the request says staging"),
]


@pytest.mark.parametrize(("words", "reason"), REFUSALS, ids=[w[:40] for w, _ in REFUSALS])
def test_refusals_say_why_in_one_line(words: str, reason: str) -> None:
    with pytest.raises(IntentRefused) as refused:
        parse_intent(words)
    message = str(refused.value)
    assert reason in message
    assert "\n" not in message


def test_bounds_come_from_the_policy_data() -> None:
    bounds = bounds_from_policy_data({"medic": {"config": {"bounds": {"max_replicas": 8}}}})
    assert bounds.max_replicas == 8
    with pytest.raises(IntentRefused, match="9 replicas is more than the policy's maximum of 8"):
        parse_intent("scale shop/checkout 9", bounds)
    assert parse_intent("scale shop/checkout 8", bounds).replicas == 8
    assert bounds_from_policy_data({}) == IntentBounds()
