"""`fidele analytics fit`: the models fitted and the predictions stored, as the nightly refresh
does, then the fit's figures printed.

With --json, one object (a contract, DESIGN.md): {"customers": int, "repeat_customers": int,
"bgnbd": {"r", "alpha", "a", "b", "log_likelihood"}, "gamma_gamma": {"p", "q", "v",
"log_likelihood"}, "seconds": number}, plus "kind" ("model", "thin", "empty"), "reasons",
"until", "unit", "holdout". The parameters are in the unit asked for (r/alpha is a rate per
day or per week); both objects are empty when the models were not fitted (too little data,
said by "reasons")."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from fidele.analytics.models import ClvFit
from fidele.analytics.predictions import clv_refresh

UNITS = {"day": 1, "week": 7}
REASONS = {
    "few_repeat": "fewer than 100 customers bought more than once",
    "short_history": "the orders span fewer than 90 days",
    "no_fit": "the models found no stable fit on these orders",
}


def fit(command: BaseCommand, options: dict[str, Any]) -> None:
    until = None
    if options.get("until"):
        try:
            until = dt.date.fromisoformat(options["until"])
        except ValueError as exc:
            raise CommandError(f"--until {options['until']!r} is not a date (YYYY-MM-DD)") from exc
    unit = options.get("unit") or "day"
    record = clv_refresh(trigger=ClvFit.Trigger.COMMAND, until=until, unit_days=UNITS[unit])
    payload = fit_payload(record, unit=unit)
    command.stdout.write(json.dumps(payload) if options.get("json") else fit_text(payload))


def fit_payload(record: ClvFit, *, unit: str) -> dict[str, Any]:
    gamma_gamma = (
        {k: record.gamma_gamma[k] for k in ("p", "q", "v", "log_likelihood")}
        | {k: record.gamma_gamma[k] for k in ("customers", "left_out")}
        if record.gamma_gamma
        else {}
    )
    return {
        "customers": record.customers,
        "repeat_customers": record.repeat_customers,
        "bgnbd": dict(record.bgnbd),
        "gamma_gamma": gamma_gamma,
        "seconds": record.seconds,
        "kind": record.kind,
        "reasons": list(record.reasons),
        "until": record.until.isoformat(),
        "unit": unit,
        "holdout": record.holdout,
    }


def fit_text(payload: dict[str, Any]) -> str:
    lines = [
        f"Orders up to {payload['until']}: {payload['customers']} customers, "
        f"{payload['repeat_customers']} bought more than once ({payload['seconds']} s)."
    ]
    if payload["kind"] != ClvFit.Kind.MODEL:
        reasons = "; ".join(REASONS.get(code, code) for code in payload["reasons"]) or "no order"
        lines.append(f"No model fitted: {reasons}. Simple figures stored instead.")
        return "\n".join(lines)
    b, g = payload["bgnbd"], payload["gamma_gamma"]
    lines.append(
        f"BG/NBD ({payload['unit']}s): r={b['r']:.4f} alpha={b['alpha']:.4f} a={b['a']:.4f} "
        f"b={b['b']:.4f} log-likelihood={b['log_likelihood']:.2f}"
    )
    lines.append(
        f"Gamma-Gamma: p={g['p']:.4f} q={g['q']:.4f} v={g['v']:.4f} "
        f"log-likelihood={g['log_likelihood']:.2f} ({g['customers']} customers"
        + (f", {g['left_out']} left out: repeat purchases worth 0)" if g["left_out"] else ")")
    )
    holdout = payload["holdout"]
    if holdout.get("groups"):
        lines.append(
            f"Holdout {holdout['start']}..{holdout['end']}: predicted "
            f"{holdout['predicted_total']:.0f} purchases, actual {holdout['actual_total']:.0f}; "
            f"mean miss per customer {holdout['mae']:.2f}."
        )
    return "\n".join(lines)
