"""`relay cost --webhooks-per-day N [...]`: the monthly AWS bill by service, beyond the always-free tier,
from the counted calls (counted.json) and the cited prices (prices.py). `--recount` runs the count again."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from relay_devtools.cost.model import (
    TYPICAL_MIX,
    Bill,
    Usage,
    monthly_bill,
    template_facts,
)
from relay_devtools.cost.prices import PRICES_DATE, REGION
from relay_devtools.cost.scenarios import flood, per_million, pipes_per_million
from relay_devtools.options import Subparsers, given


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        kind, sep, share = part.partition("=")
        try:
            mix[kind.strip()] = float(share)
        except ValueError:
            raise SystemExit(f"relay cost: --mix {part!r} is not KIND=SHARE") from None
        if not sep:
            raise SystemExit(f"relay cost: --mix {part!r} is not KIND=SHARE")
    total = sum(mix.values())
    if total <= 0:
        raise SystemExit("relay cost: --mix shares must add up to more than 0")
    return {kind: share / total for kind, share in mix.items()}


def secrets_in(config_path: Path) -> tuple[int, int]:
    """(secrets the config names, ER:LC servers)."""
    from relay.config.loader import load_config
    from relay_devtools.operations.teardown import secret_names

    config = load_config(config_path)
    return len(secret_names(config)), len(config.erlc.servers)


def render(bill: Bill, title: str) -> list[str]:
    lines = [title]
    for line in bill.lines:
        lines.append(f"  {line.service:22} {line.what[:62]:62} {line.quantity:>14,.1f}  ${line.usd:8.2f}")
    lines.append(f"  {'total':22} {'':62} {'':>14}  ${bill.total:8.2f}")
    return lines


def run(args: argparse.Namespace) -> int:
    from relay_devtools.cost import counting

    if args.recount:
        counting.write_counted()
        print(f"relay cost: counted again into {counting.COUNTED}", file=sys.stderr)
    counted = counting.read_counted()
    usage = Usage(
        webhooks_per_day=args.webhooks_per_day,
        mix=parse_mix(args.mix) if args.mix else dict(TYPICAL_MIX),
        erlc_servers=args.erlc_servers,
        changed_polls_per_day=args.changed_polls_per_day,
        secrets=args.secret_count,
        active_hours_per_day=args.active_hours,
        alarm_email=not args.no_alarm_email,
        discord=args.discord,
        detailed_monitoring=args.detailed,
        alarm_topic_key=args.alarm_topic_key,
        secret_cache_minutes=args.secret_cache_minutes,
        unit_state_kb=args.unit_state_kb,
    )
    if given(args.config):
        secrets, servers = secrets_in(Path(args.config))
        usage = replace(usage, secrets=secrets, erlc_servers=servers)
    unknown = set(usage.mix) - {
        k.removeprefix("webhook:") for k in counted["steps"] if k.startswith("webhook:")
    }
    if unknown:
        raise SystemExit(
            f"relay cost: no count for {sorted(unknown)}; counted kinds: {', '.join(counting.KINDS)}"
        )
    facts = template_facts(Path(args.template), usage)
    bill = monthly_bill(counted, usage, facts)
    million = per_million(counted, facts, usage)
    pipes = pipes_per_million()
    throttle = flood(counted, facts, args.flood_rate, 0.001)
    heavy = flood(counted, facts, args.flood_rate, 6)
    heaviest = flood(counted, facts, args.flood_rate, 10)
    if args.json:
        print(
            json.dumps(
                {
                    "prices": {"date": PRICES_DATE, "region": REGION},
                    "usage": asdict(usage),
                    "monthly": [asdict(line) for line in bill.lines],
                    "monthly_total": bill.total,
                    "per_million": million.total,
                    "pipes_per_million": pipes.total,
                    "flood_small_bodies": throttle.total,
                    "flood_6_mb_bodies": heavy.total,
                    "flood_10_mb_bodies": heaviest.total,
                },
                indent=2,
            )
        )
        return 0
    mode = "DetailedMonitoring" if usage.detailed_monitoring else "the lean defaults"
    print(f"relay cost: prices of {REGION} as of {PRICES_DATE}; beyond the always-free tier; {mode}")
    print(
        f"  {usage.webhooks_per_day:,.0f} webhooks a day, {usage.erlc_servers} ER:LC server(s), "
        f"{usage.secrets} secrets"
    )
    for line in render(bill, "\nA month:"):
        print(line)
    for service, usd in sorted(bill.by_service().items(), key=lambda item: -item[1]):
        print(f"  {service:22} ${usd:8.2f}")
    print(
        f"\nPer million webhooks (no free tier, nothing fixed): ${million.total:.2f}; "
        f"EventBridge Pipes + API destinations, one call each: ${pipes.total:.2f}"
    )
    print(
        f"A month of a stranger's requests at the API's throttle ({args.flood_rate:g}/s, refused 401): "
        f"${throttle.total:.2f}; 6 MB bodies: ${heavy.total:.2f}; 10 MB bodies: ${heaviest.total:.2f}"
    )
    print("Durations, cold starts, Lambda's idle polling and platform log lines are assumed (docs/cost.md).")
    return 0


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "cost", parents=parents, help="the monthly AWS bill by service, from counted calls and cited prices"
    )
    parser.add_argument("--webhooks-per-day", type=float, default=1300)
    parser.add_argument(
        "--mix", help=f"KIND=SHARE,... (default {','.join(f'{k}={v}' for k, v in TYPICAL_MIX.items())})"
    )
    parser.add_argument("--erlc-servers", type=int, default=1, help="(default 1; --config counts them)")
    parser.add_argument("--changed-polls-per-day", type=float, default=200, help="polls that find a change")
    parser.add_argument(
        "--secret-count",
        type=int,
        default=1,
        help="secrets in Secrets Manager (default 1: relay.toml's bundle; --config counts them)",
    )
    parser.add_argument("--active-hours", type=float, default=16, help="hours a day with webhooks")
    parser.add_argument("--no-alarm-email", action="store_true", help="no alarm topic (no AlarmEmail)")
    parser.add_argument("--discord", action="store_true", help="with the Discord notifier")
    parser.add_argument("--detailed", action="store_true", help="DetailedMonitoring=true")
    parser.add_argument("--alarm-topic-key", action="store_true", help="AlarmTopicCustomerKey=true")
    parser.add_argument(
        "--secret-cache-minutes", type=float, help="what if the functions kept secrets this long (code: 60)"
    )
    parser.add_argument(
        "--unit-state-kb", type=float, help="what if a unit's state item were this big (counted: up to 6.4)"
    )
    parser.add_argument("--flood-rate", type=float, default=2.0, help="the API's throttle (requests/s)")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--recount", action="store_true", help="run the count again first (counted.json)")
    return parser
