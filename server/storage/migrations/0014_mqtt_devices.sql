-- MQTT devices (ThingSpeak's "MQTT devices"): a client id, user name and password a device connects to the broker
-- with, and the channels it may publish to and subscribe to. The broker (Mosquitto's dynamic-security plugin)
-- keeps its own hash of the password; the server keeps the password too, encrypted and bound to its row, so it
-- can provision a broker that lost its state again. The API shows the password once, when it is made.
CREATE TABLE mqtt_devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE,
    password BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX mqtt_devices_by_user ON mqtt_devices (user_id, created_at, id);

CREATE TABLE mqtt_device_channels (
    device_id TEXT NOT NULL REFERENCES mqtt_devices (id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    publish SMALLINT NOT NULL,
    subscribe SMALLINT NOT NULL,
    PRIMARY KEY (device_id, channel_id)
);
