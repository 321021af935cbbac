//! Public search: prefixes, typos, accents both ways, ranking, filters, pages, one store only.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{App, problem, spawn};

async fn names(app: &App, slug: &str, query: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
    let response = app
        .http
        .get(app.at(&format!("/stores/{slug}/products")))
        .query(query)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await?;
    Ok(page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect())
}

#[sqlx::test(migrations = false)]
async fn search_matches_as_you_type_with_typos_and_accents(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("emporio").await?;
    let other = app.create_store("vizinha").await?;
    let catalog = [
        ("Chocolate Amargo 70%", "Barra de 100 g", 1590, true),
        (
            "Café Torrado",
            "Grãos selecionados do sul de Minas",
            2590,
            true,
        ),
        ("Cafe Expresso Forte", "Cápsulas compatíveis", 3290, true),
        ("Pão de Queijo", "Congelado, 1 kg", 2290, true),
        ("Bolo de Cenoura", "Com cobertura de chocolate", 3590, true),
        ("Chá Verde", "Sachês", 990, false),
    ];
    for (i, (name, description, price, active)) in catalog.into_iter().enumerate() {
        app.create_product(
            &m.key,
            json!({"name": name, "description": description, "sku": format!("S{i}"), "price_minor": price, "currency": "BRL", "stock": 3, "active": active}),
        )
        .await?;
    }
    app.create_product(
        &other.key,
        json!({"name": "Chocolate Branco", "sku": "X", "price_minor": 1, "currency": "BRL"}),
    )
    .await?;

    // Without q: every active product of this store, by name (accent-blind order).
    assert_eq!(
        names(&app, "emporio", &[]).await?,
        [
            "Bolo de Cenoura",
            "Cafe Expresso Forte",
            "Café Torrado",
            "Chocolate Amargo 70%",
            "Pão de Queijo"
        ]
    );
    // Prefix as you type; the name match outranks the description match.
    let choc = names(&app, "emporio", &[("q", "choc")]).await?;
    assert_eq!(choc, ["Chocolate Amargo 70%", "Bolo de Cenoura"]);
    // A small typo.
    assert_eq!(
        names(&app, "emporio", &[("q", "chocolte")])
            .await?
            .first()
            .map(String::as_str),
        Some("Chocolate Amargo 70%")
    );
    assert!(
        names(&app, "emporio", &[("q", "queijp")])
            .await?
            .contains(&"Pão de Queijo".to_owned())
    );
    // Typos among several words: each word is read as the store's closest name word.
    assert_eq!(
        names(&app, "emporio", &[("q", "pao de queijp")]).await?,
        ["Pão de Queijo"]
    );
    assert_eq!(
        names(&app, "emporio", &[("q", "Bolo Cenora")]).await?,
        ["Bolo de Cenoura"]
    );
    // Accents both ways.
    let cafe = names(&app, "emporio", &[("q", "cafe")]).await?;
    assert!(
        cafe.contains(&"Café Torrado".to_owned())
            && cafe.contains(&"Cafe Expresso Forte".to_owned()),
        "{cafe:?}"
    );
    let cafe_accented = names(&app, "emporio", &[("q", "café")]).await?;
    assert!(
        cafe_accented.contains(&"Cafe Expresso Forte".to_owned()),
        "{cafe_accented:?}"
    );
    assert!(
        names(&app, "emporio", &[("q", "pao")])
            .await?
            .contains(&"Pão de Queijo".to_owned())
    );
    // Inactive products and other stores' products never show.
    assert!(
        names(&app, "emporio", &[("q", "cha verde")])
            .await?
            .is_empty()
    );
    assert_eq!(
        names(&app, "emporio", &[("q", "branco")]).await?,
        Vec::<String>::new()
    );
    // Price filters.
    assert_eq!(
        names(
            &app,
            "emporio",
            &[("min_price", "2500"), ("max_price", "3300")]
        )
        .await?,
        ["Cafe Expresso Forte", "Café Torrado"]
    );
    assert_eq!(
        names(&app, "emporio", &[("q", "cafe"), ("max_price", "3000")]).await?,
        ["Café Torrado"]
    );

    let hit: Value = app
        .http
        .get(app.at("/stores/emporio/products?q=torrado"))
        .send()
        .await?
        .json()
        .await?;
    let item = &hit["items"][0];
    for field in ["id", "name", "description", "price_minor", "currency"] {
        assert!(!item[field].is_null(), "{field}");
    }
    assert!(item.get("stock").is_none(), "stock counts stay private");

    let unknown = app
        .http
        .get(app.at("/stores/ninguem/products"))
        .send()
        .await?;
    problem(unknown, StatusCode::NOT_FOUND).await?;
    let inverted = app
        .http
        .get(app.at("/stores/emporio/products?min_price=10&max_price=1"))
        .send()
        .await?;
    assert_eq!(
        problem(inverted, StatusCode::UNPROCESSABLE_ENTITY).await?["errors"][0]["field"],
        "min_price"
    );
    let garbled = app
        .http
        .get(app.at("/stores/emporio/products?min_price=cheap"))
        .send()
        .await?;
    assert_eq!(
        problem(garbled, StatusCode::UNPROCESSABLE_ENTITY).await?["errors"][0]["field"],
        "min_price"
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn search_pages_in_both_orders(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("paginas").await?;
    for i in 0..7 {
        app.create_product(&m.key, json!({"name": format!("Biscoito {i}"), "sku": format!("B{i}"), "price_minor": 100, "currency": "BRL"})).await?;
    }
    for query in [vec![], vec![("q", "bisc")]] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params: Vec<(&str, String)> =
                query.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            params.push(("limit", "3".into()));
            if let Some(c) = &cursor {
                params.push(("cursor", c.clone()));
            }
            let page: Value = app
                .http
                .get(app.at("/stores/paginas/products"))
                .query(&params)
                .send()
                .await?
                .json()
                .await?;
            seen.extend(
                page["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned)),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 7, "{query:?}: {seen:?}");
        assert_eq!(seen.len(), 7, "{query:?}: {seen:?}");
    }
    Ok(())
}

/// Characters that `f_unaccent` turns into tsquery syntax (`⑴`→`(1)`, `ː`→`:`, `ʼ`→`'`,
/// `½`→` 1/2`), alone and among words, and a NUL: each is an ordinary search (200).
#[sqlx::test(migrations = false)]
async fn unicode_that_unaccents_into_query_syntax_is_searched_as_words(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("simbolos").await?;
    app.create_product(
        &m.key,
        json!({"name": "Chocolate ½ Amargo", "sku": "C1", "price_minor": 100, "currency": "BRL"}),
    )
    .await?;
    for q in [
        "⑴",
        "ː",
        "ʼ",
        "½",
        "choc⑴",
        "chocː",
        "chocʼ",
        "choc½",
        "⑴ choc",
        "ʼchoc ːamar",
        "choc\0",
    ] {
        let response = app
            .http
            .get(app.at("/stores/simbolos/products"))
            .query(&[("q", q)])
            .send()
            .await?;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{q:?}: {}",
            response.text().await?
        );
    }
    // The words around them still find what they name.
    assert_eq!(
        names(&app, "simbolos", &[("q", "ʼchoc ːamar")]).await?,
        ["Chocolate ½ Amargo"]
    );
    Ok(())
}

/// Property: whatever Unicode a shopper types, search answers (a page, possibly empty), never
/// an error. Runs the search function against the real database, as the service's plain role.
#[sqlx::test(migrations = false)]
async fn search_answers_any_unicode_without_error(pool: PgPool) -> anyhow::Result<()> {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let app = spawn(pool).await?;
    let m = app.create_store("qualquer").await?;
    for (i, name) in [
        "Café Torrado",
        "Chocolate 70%",
        "Pão de Queijo",
        "Açaí ½ kg",
    ]
    .iter()
    .enumerate()
    {
        app.create_product(
            &m.key,
            json!({"name": name, "description": "Feito à mão", "sku": format!("S{i}"), "price_minor": 100, "currency": "BRL"}),
        )
        .await?;
    }
    let options = (*app.pool.connect_options()).clone();
    // Proptest drives a synchronous closure: give it a runtime and a pool of its own.
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let pool = runtime.block_on(async {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::Executor::execute(&mut *conn, "SET ROLE catalog_it_app").await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await
        })?;
        // Arbitrary strings, and strings dense in what query syntax and unaccent care about.
        let text = prop_oneof![
            any::<String>(),
            "[⑴⑵ːʼ½¼ﬁ℃™…‐–'\"&|!():*<>\\\\ \\-a-zA-Z0-9çãéü\u{0}-\u{1f}\u{300}-\u{36f}]{0,24}",
        ];
        let mut runner = TestRunner::new(Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        });
        let outcome = runner.run(&text, |q| {
            let query = catalog::search::SearchQuery {
                q: Some(q.clone()),
                limit: 20,
                ..Default::default()
            };
            match runtime.block_on(catalog::search::search(&pool, "qualquer", query)) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(TestCaseError::fail(format!("{q:?}: store not found"))),
                Err(error) => Err(TestCaseError::fail(format!("{q:?}: {error}"))),
            }
        });
        runtime.block_on(pool.close());
        outcome.map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await??;
    Ok(())
}

/// The vocabulary probe that lets a typo skip the GIN index never hides a match: description
/// words, digits and words of several stores' products are found as before.
#[sqlx::test(migrations = false)]
async fn description_words_and_numbers_still_match(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("armazem").await?;
    let other = app.create_store("outro").await?;
    app.create_product(
        &m.key,
        json!({"name": "Bolo de Cenoura", "description": "Com cobertura de chocolate, 500 g", "sku": "B", "price_minor": 100, "currency": "BRL"}),
    )
    .await?;
    app.create_product(
        &other.key,
        json!({"name": "Goiabada Cascão", "sku": "G", "price_minor": 100, "currency": "BRL"}),
    )
    .await?;
    for q in ["cobert", "500", "bolo cobertura", "Cenoura chocolate"] {
        assert_eq!(
            names(&app, "armazem", &[("q", q)]).await?,
            ["Bolo de Cenoura"],
            "{q}"
        );
    }
    // Another store's words are not this store's.
    assert!(names(&app, "armazem", &[("q", "goiab")]).await?.is_empty());
    assert_eq!(
        names(&app, "outro", &[("q", "goiab")]).await?,
        ["Goiabada Cascão"]
    );
    // A typo still reads as the closest name word.
    assert_eq!(
        names(&app, "armazem", &[("q", "cenora")]).await?,
        ["Bolo de Cenoura"]
    );
    Ok(())
}
