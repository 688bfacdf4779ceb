-- A channel's dashboard: the widgets its owner arranged (tiles, gauges, lamps, status, location, controls), kept
-- as one JSON list in display order, so rearranging is one write. The specs are checked by server/iot/widgets.py.
CREATE TABLE channel_widgets (
    channel_id BIGINT PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    widgets TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
