-- Run once by the postgres image, when its data volume is new (docker-compose.yml mounts this
-- folder at /docker-entrypoint-initdb.d). Each service owns its database: a role per service
-- owns one database and cannot connect to the other's. The passwords are for local use only.
CREATE ROLE users_svc LOGIN PASSWORD 'users_svc';
CREATE DATABASE users OWNER users_svc;
REVOKE CONNECT, TEMPORARY ON DATABASE users FROM PUBLIC;

CREATE ROLE orders_svc LOGIN PASSWORD 'orders_svc';
CREATE DATABASE orders OWNER orders_svc;
REVOKE CONNECT, TEMPORARY ON DATABASE orders FROM PUBLIC;
