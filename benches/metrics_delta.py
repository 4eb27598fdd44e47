#!/usr/bin/env python3
"""Where a window's time went, from two scrapes of the gateway's `GET /metrics`.

    python3 benches/metrics_delta.py BEFORE AFTER 'NAME{label="value",...}' ...

For each histogram series named (its labels as a filter: every label given must match; series
that match are added up), prints the observations between the scrapes, their mean, and the
bucket bounds the median and the 99th percentile fall under (Prometheus' cumulative buckets,
`_bucket{le=...}`). Used by benches/backfill.sh to split the interactive upserts' latency into
the wait for a rate-budget permit, the Stripe call and the rest.
"""

import re
import sys
from collections import defaultdict

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(path):
    """{(name, frozenset(labels)): value} of every sample in a scrape."""
    samples = {}
    with open(path, encoding="utf-8") as scrape:
        for line in scrape:
            match = LINE.match(line.strip())
            if not match or line.startswith("#"):
                continue
            name, labels, value = match.groups()
            samples[(name, frozenset(LABEL.findall(labels or "")))] = float(value)
    return samples


def window(before, after, name, wanted):
    """Count, sum and cumulative buckets {le: count} of the series matching, between scrapes."""
    count = total = 0.0
    buckets = defaultdict(float)
    for (sample, labels), value in after.items():
        if not wanted <= labels:
            continue
        delta = value - before.get((sample, labels), 0.0)
        if sample == f"{name}_count":
            count += delta
        elif sample == f"{name}_sum":
            total += delta
        elif sample == f"{name}_bucket":
            le = dict(labels)["le"]
            buckets[float("inf") if le == "+Inf" else float(le)] += delta
    return count, total, dict(sorted(buckets.items()))


def under(buckets, count, quantile):
    """The smallest bucket bound that at least `quantile` of the observations fall under."""
    for le, seen in buckets.items():
        if seen >= quantile * count:
            return "inf" if le == float("inf") else f"{le * 1000:g} ms"
    return "?"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    before, after = parse(sys.argv[1]), parse(sys.argv[2])
    for series in sys.argv[3:]:
        match = re.match(r"^(\w+)(?:\{(.*)\})?$", series)
        if not match:
            sys.exit(f"not a series: {series}")
        name, labels = match.groups()
        wanted = frozenset(LABEL.findall(labels or ""))
        count, total, buckets = window(before, after, name, wanted)
        if not count:
            print(f"  {series}: none")
            continue
        print(
            f"  {series}: {count:.0f}, mean {1000 * total / count:.1f} ms, "
            f"p50 <= {under(buckets, count, 0.5)}, p99 <= {under(buckets, count, 0.99)}"
        )


if __name__ == "__main__":
    main()
