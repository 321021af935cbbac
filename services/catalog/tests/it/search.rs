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
