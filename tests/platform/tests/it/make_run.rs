use std::time::Duration;

use anyhow::Context;
use platform_tests::{RunDatabases, SERVICES, Service, admin_url_to};
use sqlx::{Connection, PgConnection};
use testkit::Vhost;

/// `make run` as it starts the services (deploy/local/service-env.sh over the inherited
/// environment, which under `make test` holds the superuser's DATABASE_URL): each service
/// migrates into its own database as its own non-superuser role, and the platform starts a
/// second time on the databases the first run left.
#[tokio::test]
async fn make_run_gives_each_service_its_own_database_and_role_and_starts_twice()
-> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let mut databases = RunDatabases::create().await?;

    for run in ["first", "second"] {
        let mut services = Vec::new();
        for name in SERVICES {
            services.push(Service::start_as_make_run(name, &databases, &vhost.url()).await?);
        }
        for service in &services {
            service
                .wait_ready(Duration::from_secs(90))
                .await
                .with_context(|| format!("{} on the {run} run", service.name))?;
        }
        for service in services {
            let name = service.name.clone();
            let status = service.stop().await?;
            assert!(status.success(), "{name} on the {run} run: {status}");
        }
    }

    for service in SERVICES {
        let own = databases.name_of(service);
        let mut db = PgConnection::connect(&admin_url_to(&own)).await?;
        let tables: Vec<(String, String)> = sqlx::query_as(
            "SELECT tablename::text, tableowner::text FROM pg_tables
             WHERE schemaname = 'public' ORDER BY 1",
        )
        .fetch_all(&mut db)
        .await?;
        assert!(
            tables.iter().any(|(table, _)| table == "_sqlx_migrations"),
            "{service} migrated its own database {own}: {tables:?}"
        );
        for (table, owner) in &tables {
            assert_eq!(owner, &own, "{service}'s table {table} belongs to its role");
        }
        // `reservations` is catalog's alone (checkout keeps a `stores` read model of its own).
        let has_reservations = tables.iter().any(|(table, _)| table == "reservations");
        assert_eq!(
            has_reservations,
            service == "catalog",
            "catalog's `reservations` lives in catalog's database only ({own}: {tables:?})"
        );
        let superuser: bool =
            sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = $1")
                .bind(&own)
                .fetch_one(&mut db)
                .await?;
        assert!(!superuser, "{own} is not a superuser");
        db.close().await?;
    }

    databases.drop_now().await?;
    Ok(())
}
