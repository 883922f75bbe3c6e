-- Custom HTTP routes (http_triggers): a route's settings are the server's
-- JSON; the store keeps apart what it checks itself. No two routes share a
-- method and a route key (the route with its parameters' names erased, and
-- the workspace in front when the route is under it).
CREATE TABLE http_triggers (
    workspace TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    method TEXT NOT NULL,
    route_key TEXT NOT NULL,
    settings TEXT NOT NULL,
    edited_by TEXT NOT NULL,
    edited_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, path)
);
CREATE UNIQUE INDEX http_triggers_route ON http_triggers(method, route_key);
