"""relay cost's arithmetic (issue #23, "the bill is unknown"): the price table is dated and cited, the
free tier applies apart, the lean defaults hold only what webhooks cost plus the secrets, each switch
adds what it says, a million webhooks are priced beside Pipes, and a flood is bounded by the throttle.
The counts come from counted.json (tests/integration/test_cost_counts.py keeps it true)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from relay_devtools.cost.counting import read_counted
from relay_devtools.cost.model import (
    HOURS,
    Bill,
    Usage,
    monthly_bill,
    template_facts,
)
from relay_devtools.cost.prices import PRICES, PRICES_DATE, REGION, Price
from relay_devtools.cost.scenarios import flood, per_million, pipes_per_million
from relay_devtools.files.template import load_template
from tests.support.constants import ROOT

TEMPLATE = ROOT / "template.yaml"


def bill(**changes: object) -> Bill:
    usage = replace(Usage(), **changes)  # type: ignore[arg-type]
    return monthly_bill(read_counted(), usage, template_facts(TEMPLATE, usage))


def line(result: Bill, start: str) -> float:
    return sum(item.usd for item in result.lines if item.what.startswith(start))


def test_cost_every_price_is_dated_cited_and_regional() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES_DATE) and REGION == "us-east-1"
    for name, price in PRICES.items():
        assert (
            price.source.startswith("https://aws.amazon.com/") and price.source.endswith("/pricing/")
        ) or ("pricing/on-demand" in price.source), name
        assert price.usd > 0 and price.per > 0, name


def test_cost_the_free_tier_applies_apart() -> None:
    price = Price(0.40, 1e6, "request", "https://aws.amazon.com/sqs/pricing/", free=1e6)
    assert price.cost(999_999) == 0
    assert price.cost(3e6) == pytest.approx(0.80)


def test_cost_the_lean_defaults_hold_nothing_billed_by_the_month_but_the_secrets() -> None:
    lean = bill()
    # Ten, the free tier, and emergency-not-delivered (issue 18: a call or panic not delivered pages at once)
    assert line(lean, "alarm metrics") == pytest.approx(0.10)
    assert line(lean, "dashboard") == 0  # 20 metrics, within the free tier's 50
    assert not [item for item in lean.lines if item.service in ("X-Ray",) or "custom metrics" in item.what]
    assert line(lean, "the alarm topic's own key") == 0
    assert line(lean, "secrets") == pytest.approx(5 * 0.40)


def test_cost_each_switch_adds_what_it_says() -> None:
    lean, detailed, keyed, discord = (
        bill(),
        bill(detailed_monitoring=True),
        bill(alarm_topic_key=True),
        bill(discord=True),
    )
    assert line(detailed, "dashboard") == pytest.approx(3.00)  # 58 metrics: over the free 50
    assert line(detailed, "custom metrics") > 0 and line(detailed, "traces") > 0
    assert keyed.total - lean.total == pytest.approx(1.00)
    assert discord.total - lean.total == pytest.approx(0.10)  # the notifier's alarm: the 11th


def test_cost_each_queue_lambda_reads_is_polled_while_idle() -> None:
    """The calls' and panics' queue is Lambda's second event source mapping: its idle polling doubles
    the assumed polling (issue 18), which takes SQS past its free million requests."""
    facts = template_facts(TEMPLATE, Usage())
    assert facts.sqs_mappings == 2
    one, two = (monthly_bill(read_counted(), Usage(), replace(facts, sqs_mappings=n)) for n in (1, 2))
    assert line(one, "requests: sends") == 0 < line(two, "requests: sends")


def test_cost_webhooks_drive_the_rest() -> None:
    quiet, busy = bill(webhooks_per_day=100), bill(webhooks_per_day=10_000)
    assert busy.total > quiet.total
    for service in ("API Gateway", "DynamoDB"):
        assert busy.by_service()[service] > quiet.by_service()[service]


def test_cost_no_erlc_server_means_no_poll() -> None:
    none = bill(erlc_servers=0)
    assert not [item for item in none.lines if item.service == "EventBridge Scheduler"]
    assert bill().by_service()["EventBridge Scheduler"] == 0  # 43,800 a month: inside the free 14 million


def test_cost_a_million_webhooks_beside_pipes() -> None:
    million = per_million(read_counted(), template_facts(TEMPLATE, Usage()), Usage())
    # Nothing fixed: no secret, alarm, dashboard or idle polling; every call of a million webhooks.
    assert not [item for item in million.lines if item.what in ("secrets", "alarm metrics")]
    api = [item for item in million.lines if item.service == "API Gateway"]
    assert [item.quantity for item in api] == [1e6]
    assert pipes_per_million().total == pytest.approx(1.00 + 1.20 + 0.40 + 0.20)
    assert million.total > pipes_per_million().total  # the read-before-write and merge cost more


def test_cost_a_flood_is_bounded_by_the_default_throttle() -> None:
    template = load_template(TEMPLATE)
    default = str(template["Parameters"]["IngressReservedConcurrency"]["Default"])
    rate = float(template["Mappings"]["IngressCapacity"][default]["RateLimit"])
    facts = template_facts(TEMPLATE, Usage())
    small = flood(read_counted(), facts, rate, 0.001)
    requests = rate * HOURS * 3600
    [api] = [item for item in small.lines if item.service == "API Gateway"]
    assert api.quantity == requests and api.usd == pytest.approx(requests / 1e6)
    # Bodies too big for Lambda (over 6 MB) never invoke it but are billed per 512 KB.
    big = flood(read_counted(), facts, rate, 10)
    assert [i.quantity for i in big.lines if i.service == "Lambda"] == [0, 0]
    assert [i.quantity for i in big.lines if i.service == "API Gateway"] == [requests * 20]


def test_cost_figures_in_the_docs_are_relay_costs(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cost.md quotes `relay cost`: each total it gives is what the model computes now."""
    from relay_devtools.cli import main

    text = (ROOT / "docs" / "cost.md").read_text(encoding="utf-8")
    quoted = re.findall(r"`(relay cost[^`]*)`: \$(\d+\.\d\d) a month", text)
    assert len(quoted) >= 4, quoted
    for command, total in quoted:
        assert main([*command.split()[1:], "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert f"{printed['monthly_total']:.2f}" == total, command
    million = re.findall(r"`(relay cost[^`]*)` per million webhooks: \$(\d+\.\d\d)", text)
    assert len(million) >= 2, million
    for command, total in million:
        assert main([*command.split()[1:], "--json"]) == 0
        assert f"{json.loads(capsys.readouterr().out)['per_million']:.2f}" == total, command
    # The default's figures: each service's share, Pipes, and the floods.
    assert main(["cost", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    services: dict[str, float] = {}
    for item in printed["monthly"]:
        services[item["service"]] = services.get(item["service"], 0.0) + item["usd"]
    for service, usd in services.items():
        if usd >= 0.005:
            assert f"| {service} |" in text and f"${usd:.2f}" in text, service
    for key in ("pipes_per_million", "flood_small_bodies", "flood_6_mb_bodies", "flood_10_mb_bodies"):
        assert f"${printed[key]:.2f}" in text, key
