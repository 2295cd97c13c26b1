-- The job's database role, least privilege: it reads the marketplace, appends
-- to the ledger (INSERT only: no UPDATE, DELETE or TRUNCATE, so it cannot
-- alter or remove an entry), moves balances (SELECT and UPDATE), and has full
-- rights on its own tables (reconciler_*). It is NOLOGIN: production logs in
-- as a user of its own that is a member of it (README "Least privilege").
--
-- Roles are cluster-wide and this migration runs in many databases of one
-- server at once (tests, several environments): creation checks pg_roles and
-- tolerates losing the race to a concurrent CREATE ROLE. Every grant is
-- idempotent. Grants on marketplace tables are guarded by existence checks:
-- in production the marketplace exists before the job's migrations run (if it
-- does not, re-run the GRANTs in the README once it does).

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    t   text;
    seq text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'connects_reconciler') THEN
        BEGIN
            CREATE ROLE connects_reconciler NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database's migration created it meanwhile
        END;
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA %I TO connects_reconciler', current_schema());

    FOREACH t IN ARRAY ARRAY['jobs', 'proposals', 'boost_auctions', 'boost_bids',
                             'proposal_interactions', 'connects_ledger', 'connects_balances'] LOOP
        IF to_regclass(t) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON %I TO connects_reconciler', t);
        END IF;
    END LOOP;
    IF to_regclass('connects_ledger') IS NOT NULL THEN
        GRANT INSERT ON connects_ledger TO connects_reconciler;
        -- An identity column needs no grant; a serial one needs its sequence.
        seq := pg_get_serial_sequence('connects_ledger', 'id');
        IF seq IS NOT NULL THEN
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO connects_reconciler', seq);
        END IF;
    END IF;
    IF to_regclass('connects_balances') IS NOT NULL THEN
        GRANT UPDATE ON connects_balances TO connects_reconciler;
    END IF;

    GRANT SELECT, INSERT, UPDATE, DELETE ON reconciler_runs, reconciler_refunds, reconciler_watermarks
        TO connects_reconciler;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'connects_reconciler') THEN
        -- This database's grants only: other databases of the cluster may
        -- still use the role, so it is not dropped.
        FOREACH t IN ARRAY ARRAY['jobs', 'proposals', 'boost_auctions', 'boost_bids', 'proposal_interactions',
                                 'connects_ledger', 'connects_balances',
                                 'reconciler_runs', 'reconciler_refunds', 'reconciler_watermarks'] LOOP
            IF to_regclass(t) IS NOT NULL THEN
                EXECUTE format('REVOKE ALL ON %I FROM connects_reconciler', t);
            END IF;
        END LOOP;
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM connects_reconciler', current_schema());
    END IF;
END
$$;
-- +goose StatementEnd
