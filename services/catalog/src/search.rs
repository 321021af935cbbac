//! Public product search of one store, in Postgres alone, over `product_search` (the
//! trigger-kept public copy of live products; see its migration for why RLS needs a copy).
//!
//! Without a query: the store's products on sale, by name (accent- and case-blind), keyset
//! paginated on `(search_name, id)`. With a query, a product matches when
//! - its words (name and description, unaccented) start with every query word — prefixes as
//!   you type: "choc" finds Chocolate; otherwise
//! - the query is trigram-similar to a stretch of its unaccented name (`<%`, word similarity)
//!   — small typos: "chocolte" still finds Chocolate.
//!
//! The typo reading is only taken when the prefix reading finds nothing in the store: exact
//! prefixes beat fuzzy guesses, and ranking fuzzy matches is the expensive part.
//!
//! Both sides go through `f_unaccent`, so "cafe" finds Café and "café" finds Cafe. Ranking:
//! names that start with the query, then names with a word that does, then descriptions (all
//! ties by name); typo matches by word similarity. Each condition is served by a GIN index that
//! leads with `store_id` (btree_gin), so one store's matches are found without touching other
//! stores' rows. Ranking avoids `ts_rank` (it decompresses every matching tsvector).

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::product::Page;
use crate::{CatalogError, cursor, db, store};

/// The deepest a relevance-ranked search pages; past it, refine the query.
const MAX_OFFSET: i64 = 10_000;

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub cursor: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Hit {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub in_stock: bool,
}

/// Where the next page starts.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Cursor {
    /// Name order: after this (search_name, id).
    After(String, Uuid),
    /// Relevance order: skip this many.
    Offset(i64),
}

/// The words of a query as a `to_tsquery` prefix conjunction ("cafe:* & mo:*"); only letters
/// and digits survive, so the query syntax cannot be injected.
pub fn prefix_tsquery(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

/// The same prefixes, restricted to the name's words (weight A).
fn name_tsquery(tsquery: &str) -> String {
    tsquery.replace(":*", ":*A")
}

const HIT_COLUMNS: &str =
    "p.product_id AS id, p.sku, p.name, p.description, p.price_minor, p.currency, p.in_stock";

/// Searches the store named by `slug`; `None` when there is no such store.
pub async fn search(
    pool: &PgPool,
    slug: &str,
    query: SearchQuery,
) -> Result<Option<Page<Hit>>, CatalogError> {
    if query
        .min_price
        .zip(query.max_price)
        .is_some_and(|(min, max)| min > max)
    {
        return Err(CatalogError::invalid(
            "min_price",
            "must not exceed max_price",
        ));
    }
    let Some(store) = store::by_slug(pool, slug).await? else {
        return Ok(None);
    };
    let cursor: Option<Cursor> = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let tsquery = query.q.as_deref().and_then(prefix_tsquery);
    let limit = query.limit;

    let mut tx = db::begin_for(pool, store.id).await?;
    // A generic plan cannot see the search terms, so it guesses a sequential scan over every
    // store's rows; plan each search with its values. Parallel workers only add overhead to
    // queries this small when many run at once.
    sqlx::query(
        "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
                set_config('max_parallel_workers_per_gather', '0', true)",
    )
    .execute(&mut *tx)
    .await?;
    let page = match tsquery {
        None => {
            let after = match cursor {
                None => None,
                Some(Cursor::After(name, id)) => Some((name, id)),
                Some(Cursor::Offset(_)) => return Err(cursor::invalid()),
            };
            let (after_name, after_id) = after.unzip();
            let mut rows: Vec<(String, Hit)> = sqlx::query_as::<_, NamedHit>(db::sql(format!(
                "SELECT p.search_name, {HIT_COLUMNS} FROM product_search p
                 WHERE p.store_id = $1
                   AND ($2::bigint IS NULL OR p.price_minor >= $2)
                   AND ($3::bigint IS NULL OR p.price_minor <= $3)
                   AND ($4::text IS NULL OR (p.search_name, p.product_id) > ($4, $5::uuid))
                 ORDER BY p.search_name, p.product_id LIMIT $6"
            )))
            .bind(store.id)
            .bind(query.min_price)
            .bind(query.max_price)
            .bind(after_name)
            .bind(after_id)
            .bind(limit + 1)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|n| (n.search_name, n.hit))
            .collect();
            let next_cursor = if rows.len() as i64 > limit {
                rows.truncate(limit as usize);
                rows.last()
                    .map(|(name, hit)| cursor::encode(&Cursor::After(name.clone(), hit.id)))
            } else {
                None
            };
            Page {
                items: rows.into_iter().map(|(_, hit)| hit).collect(),
                next_cursor,
            }
        }
        Some(tsquery) => {
            let offset = match cursor {
                None => 0,
                Some(Cursor::Offset(n)) if (0..=MAX_OFFSET).contains(&n) => n,
                Some(_) => return Err(cursor::invalid()),
            };
            let q = query.q.as_deref().unwrap_or_default().trim().to_owned();
            // Prefix matches first; only a query whose words start nothing in the store is
            // read as a typo. The choice depends on the store's data, not the page, so every
            // page of one query is ranked the same way.
            let prefix_hits: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM product_search p
                 WHERE p.store_id = $1
                   AND p.search_doc @@ to_tsquery('simple', f_unaccent($2)))",
            )
            .bind(store.id)
            .bind(&tsquery)
            .fetch_one(&mut *tx)
            .await?;
            let (condition, order) = if prefix_hits {
                // Names that start with the query, then names with a word that does, then
                // descriptions; ties by name. `:*A` restricts a prefix to the name's words.
                (
                    "p.search_doc @@ to_tsquery('simple', f_unaccent($3))",
                    "starts_with(p.search_name, lower(f_unaccent($2))) DESC,
                     p.search_doc @@ to_tsquery('simple', f_unaccent($4)) DESC",
                )
            } else {
                (
                    "lower(f_unaccent($2)) <% p.search_name",
                    "word_similarity(lower(f_unaccent($2)), p.search_name) DESC, $4::text IS NULL",
                )
            };
            // Both readings bind the same parameters; the `IS [NOT] NULL` terms only give every
            // parameter a use (Postgres must infer each one's type) and are always true/false.
            let mut items = sqlx::query_as::<_, Hit>(db::sql(format!(
                "SELECT {HIT_COLUMNS} FROM product_search p
                 WHERE p.store_id = $1
                   AND {condition} AND $3::text IS NOT NULL
                   AND ($5::bigint IS NULL OR p.price_minor >= $5)
                   AND ($6::bigint IS NULL OR p.price_minor <= $6)
                 ORDER BY {order}, p.search_name, p.product_id
                 LIMIT $7 OFFSET $8"
            )))
            .bind(store.id)
            .bind(&q)
            .bind(&tsquery)
            .bind(name_tsquery(&tsquery))
            .bind(query.min_price)
            .bind(query.max_price)
            .bind(limit + 1)
            .bind(offset)
            .fetch_all(&mut *tx)
            .await?;
            let next_cursor = if items.len() as i64 > limit {
                items.truncate(limit as usize);
                Some(offset + limit)
                    .filter(|next| *next <= MAX_OFFSET)
                    .map(|next| cursor::encode(&Cursor::Offset(next)))
            } else {
                None
            };
            Page { items, next_cursor }
        }
    };
    tx.commit().await?;
    Ok(Some(page))
}

#[derive(sqlx::FromRow)]
struct NamedHit {
    search_name: String,
    #[sqlx(flatten)]
    hit: Hit,
}

#[cfg(test)]
mod tests {
    use super::prefix_tsquery;

    #[test]
    fn builds_safe_prefix_queries() {
        assert_eq!(prefix_tsquery("Choc").as_deref(), Some("choc:*"));
        assert_eq!(
            prefix_tsquery("café  do-zé").as_deref(),
            Some("café:* & do:* & zé:*")
        );
        assert_eq!(prefix_tsquery("a' | !b:*").as_deref(), Some("a:* & b:*"));
        assert_eq!(prefix_tsquery(" %% "), None);
    }
}
