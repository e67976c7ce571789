"""The alert service (``gmv alerts``): page someone when throughput drops, never when the
pipeline merely lags; record and announce the festival's GMV milestones.

- :mod:`stream.alerts.rules`: the pure core, ``evaluate(rule, data, state, now_ms)``;
- :mod:`stream.alerts.last_year`: last year's orders per second from the history database, the
  ``last_year`` baseline of the drop rules (nothing here imports the simulator);
- :mod:`stream.alerts.config`: the TOML rules file, validated (``infra/alerts.toml``);
- :mod:`stream.alerts.payload`: the webhook body, its link and its signature;
- :mod:`stream.alerts.delivery`: HTTP POST with timeouts, retries and backoff;
- :mod:`stream.alerts.store`: reads of the rollups and the ``alert_events`` history;
- :mod:`stream.alerts.service`: the shell that ties them together every second;
- :mod:`stream.alerts.milestones`: GMV milestones, the pure core (per-second GMV -> the first
  second each round figure is reached); :mod:`stream.alerts.milestone_watch`: their shell (the
  ``milestones`` table, one announcement per figure).

``docs/alerts.md`` explains the rules, the payload and how a drop is told from a stall.
"""
