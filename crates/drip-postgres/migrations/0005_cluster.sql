-- The node registry of a multi-node deployment (the cluster ports of drip-core): every
-- node beats (`seen_at`, the server's clock), and records how many event connections each
-- user has open on it, numbered by `version` (the node's latest change). A node that stops
-- beating is dropped by the others after a bound; its presence goes with it.
CREATE TABLE cluster_nodes (
    name     text COLLATE "C" NOT NULL,
    hostname text NOT NULL,
    seen_at  timestamptz NOT NULL,
    version  bigint NOT NULL DEFAULT 0,
    CONSTRAINT cluster_nodes_pkey PRIMARY KEY (name)
);
CREATE INDEX cluster_nodes_seen_at_idx ON cluster_nodes (seen_at);

CREATE TABLE cluster_presence (
    node        text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    username    text NOT NULL,
    connections bigint NOT NULL,
    CONSTRAINT cluster_presence_pkey PRIMARY KEY (node, user_id),
    CONSTRAINT cluster_presence_node_fkey FOREIGN KEY (node) REFERENCES cluster_nodes (name) ON DELETE CASCADE,
    CONSTRAINT cluster_presence_connections_check CHECK (connections > 0)
);
