"""The festival event simulator behind ``gmv simulate``.

One module per concern, pure functions with a thin I/O shell:

- :mod:`.config`    the frozen :class:`FestivalConfig` (festival facts, weights, delays)
- :mod:`.catalog`   brands, categories, provinces, carriers and their JSON fragments
- :mod:`.warehouses` the warehouse hubs a parcel ships from (its ``origin``), by the buyer's region
- :mod:`.curve`     the intensity of orders over festival time (waves, day curve, spikes)
- :mod:`.events`    the event record layout and the enumerations of the schemas
- :mod:`.orders`    new orders and their lifecycle (payments, cancellations, refunds, parcels)
- :mod:`.pending`   a calendar of events due in the future
- :mod:`.encode`    events to JSON bytes, fast and byte-stable
- :mod:`.faults`    duplicates, late events, malformed messages
- :mod:`.ledger`    the ground truth per window and dimension
- :mod:`.clock`     ticks of festival time, pacing, and the rate normalisation
- :mod:`.sinks`     Kafka, stdout, null and in-memory sinks
- :mod:`.run`       the loop tying them together
- :mod:`.cli`       the ``simulate`` subcommand
"""
