-- Runs once, when the postgres container starts on an EMPTY data volume
-- (/docker-entrypoint-initdb.d). It is executed by psql as POSTGRES_USER (airflow)
-- connected to POSTGRES_DB (airflow), which docker-entrypoint has already created.
--
-- It adds the project's own metadata database `ct` (model registry, run history,
-- validation results — see CT_DATABASE_URL in docker-compose.yaml) beside Airflow's
-- `airflow` database. Keeping the two apart means `airflow db migrate` and
-- `ct db upgrade` never see each other's tables or Alembic version tables.
--
-- If the volume already existed before this file was added, the script does not run;
-- airflow-init then creates the database itself before `ct db upgrade`.

SELECT 'CREATE DATABASE ct OWNER airflow'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ct')\gexec

-- Same owner as the Airflow database; no privileges beyond that are needed.
COMMENT ON DATABASE ct IS 'Continuous-training pipeline metadata (managed by `ct db upgrade`)';
