//! Public product search of one store, in Postgres alone, over `product_search` (the
//! trigger-kept public copy of live products; see its migration for why RLS needs a copy).
//!
//! Without a query: the store's products on sale, by name (accent- and case-blind), keyset
//! paginated on `(search_name, id)`. With a query, a product matches when its words (name and
//! description, unaccented) start with every query word — prefixes as you type: "choc" finds
//! Chocolate. Ranking: names that start with the query, then names with a word that does, then
//! descriptions (all ties by name). Ranking avoids `ts_rank` (it decompresses every matching
//! tsvector).
//!
//! Only when the query's words start nothing in the store is it read as a typo: each word may
//! then also be one of the store's name words (`search_words`) closest to it by trigram
//! similarity — "chocolte" is read as "chocolate" — and that corrected query runs as a prefix
//! search. Exact prefixes beat fuzzy guesses, and correcting a few words against a store's
//! vocabulary is far cheaper than ranking every product by similarity.
//!
//! Both sides go through `f_unaccent`, so "cafe" finds Café and "café" finds Cafe.
//!
//! Invariant: the query's text never becomes tsquery syntax. It is unaccented first (in SQL,
//! `lower(f_unaccent(q))`: unaccenting can turn letters into punctuation, `⑴` → `(1)`), then
//! cut into runs of letters and digits, and each word reaches `to_tsquery` as a quoted literal.
//! Any Unicode a shopper types is a search, never an error.
//!
//! Speed at 100,000 products: a page that lies wholly among the names starting with the query
//! (the first pages of "choc" when 5,000 names do) is read in name order straight off the
//! `(store_id, search_name, product_id)` btree — `search_name` is COLLATE "C", so `starts_with`
//! is a range scan there — and nothing else is ranked. Other pages rank every match, found
//! through a GIN index on `search_doc` that leads with `store_id` (btree_gin), so one store's
//! matches are found without touching other stores' rows.

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

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = SearchHit)]
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

/// At most this many query words count.
const MAX_WORDS: usize = 8;
/// A longer query word is cut to this prefix (characters), far below the 2 KB a tsquery
/// lexeme may hold.
const MAX_WORD_CHARS: usize = 64;

/// The words of a query that has been through `lower(f_unaccent(…))` already: runs of letters
/// and digits, at most [`MAX_WORDS`]. Splitting after unaccenting matters: `f_unaccent` turns
/// some letters into punctuation (`⑴` → `(1)`, `ʼ` → `'`), which must separate words, never
/// reach the tsquery.
fn query_words(normalized: &str) -> Vec<String> {
    normalized
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(|w| {
            w.chars()
                .take(MAX_WORD_CHARS)
                .collect::<String>()
                .to_lowercase()
        })
        .collect()
}

/// A word as a tsquery literal: quoted, so whatever it holds is data, never syntax.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''"))
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
    let limit = query.limit;
    // Text cannot hold NUL in Postgres; it separates words like any other non-letter.
    let q = query.q.as_deref().map(|q| q.replace('\0', " "));

    let mut tx = db::begin_for(pool, store.id).await?;
    // A generic plan cannot see the search terms, so it guesses a sequential scan over every
    // store's rows; plan each search with its values. Parallel workers only add overhead to
    // queries this small when many run at once, and so does JIT compilation, which the
    // inflated costs of a disabled access path (see [`plan`]) would otherwise trigger (~250 ms).
    // The query is unaccented and lowercased here, the way the names were, before it is cut
    // into words.
    // The trigram threshold is the typo reading's (see [`corrected`]), set here with the rest
    // to save a round trip.
    let (_, _, _, _, normalized): (String, String, String, String, Option<String>) =
        sqlx::query_as(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
                    set_config('max_parallel_workers_per_gather', '0', true),
                    set_config('jit', 'off', true),
                    set_config('pg_trgm.similarity_threshold', '0.3', true),
                    lower(f_unaccent($1))",
        )
        .bind(q)
        .fetch_one(&mut *tx)
        .await?;
    let reading = normalized.as_deref().and_then(Reading::of);
    let page = match reading {
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
        Some(reading) => {
            let offset = match cursor {
                None => 0,
                Some(Cursor::Offset(n)) if (0..=MAX_OFFSET).contains(&n) => n,
                Some(_) => return Err(cursor::invalid()),
            };
            let filter = Filter {
                store_id: store.id,
                min_price: query.min_price,
                max_price: query.max_price,
                offset,
                limit,
            };
            // Prefix matches first; only a query whose words start nothing in the store is
            // read as a typo. The choice depends on the store's data, not the page, so every
            // page of one query is ranked the same way.
            let mut items = match prefix_search(&mut tx, &filter, &reading).await? {
                Some(items) => items,
                None => match corrected(&mut tx, store.id, &reading).await? {
                    Some(reading) => prefix_search(&mut tx, &filter, &reading)
                        .await?
                        .unwrap_or_default(),
                    None => Vec::new(),
                },
            };
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

/// What a relevance search looks for: `phrase` (the query unaccented and lowercased, or
/// corrected) ranks names that start with it first; `terms` decide what matches: every term
/// must match, a term when one of its words starts a word of the product.
#[derive(Debug)]
struct Reading {
    phrase: String,
    terms: Vec<Vec<String>>,
}

impl Reading {
    /// The reading of a query already through `lower(f_unaccent(…))`; `None` without words.
    fn of(normalized: &str) -> Option<Self> {
        let words = query_words(normalized);
        (!words.is_empty()).then(|| Self {
            phrase: normalized.trim().to_owned(),
            terms: words.into_iter().map(|w| vec![w]).collect(),
        })
    }

    /// The query's own words, one per term.
    fn words(&self) -> Vec<String> {
        self.terms
            .iter()
            .filter_map(|t| t.first().cloned())
            .collect()
    }

    /// The `to_tsquery('simple', …)` text: a conjunction of terms, each a disjunction of quoted
    /// prefixes (`'cafe':* & ('chocolte':* | 'chocolate':*)`); `weight` `"A"` restricts them
    /// to the name's words. Words are quoted literals: data, never syntax.
    fn tsquery(&self, weight: &str) -> String {
        self.terms
            .iter()
            .map(|alternatives| {
                let group: Vec<String> = alternatives
                    .iter()
                    .map(|w| format!("{}:*{weight}", quoted(w)))
                    .collect();
                if group.len() == 1 {
                    group.join("")
                } else {
                    format!("({})", group.join(" | "))
                }
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// The store, the price filters and the page (one row more than `limit`, to see a next page).
struct Filter {
    store_id: Uuid,
    min_price: Option<i64>,
    max_price: Option<i64>,
    offset: i64,
    limit: i64,
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// How the next statement should be planned. Row estimates for prefix tsqueries are guesses
/// (often off by 10×), and the plan that wins on a guess can be the one that reads the whole
/// store, so each statement names the access path that is right for its shape.
#[derive(Clone, Copy)]
enum Plan {
    /// Walk the name btree in order and stop at the page: no bitmap, no sort, no heap scan.
    NameOrder,
    /// The planner's choice (a GIN bitmap and a top-N sort, in practice).
    Free,
    /// Through the GIN index only: an existence test must not bet on an early stop in a scan
    /// that finds nothing.
    Bitmap,
}

async fn plan(tx: &mut Tx, plan: Plan) -> Result<(), CatalogError> {
    let (seqscan, indexscan, bitmapscan, sort) = match plan {
        Plan::NameOrder => ("off", "on", "off", "off"),
        Plan::Free => ("on", "on", "on", "on"),
        Plan::Bitmap => ("off", "off", "on", "on"),
    };
    sqlx::query(
        "SELECT set_config('enable_seqscan', $1, true), set_config('enable_indexscan', $2, true),
                set_config('enable_bitmapscan', $3, true), set_config('enable_sort', $4, true)",
    )
    .bind(seqscan)
    .bind(indexscan)
    .bind(bitmapscan)
    .bind(sort)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The page of the prefix reading; `None` when no product of the store (whatever its price)
/// matches it, so the query may be a typo.
async fn prefix_search(
    tx: &mut Tx,
    filter: &Filter,
    reading: &Reading,
) -> Result<Option<Vec<Hit>>, CatalogError> {
    if let Some(items) = prefix_page(tx, filter, reading).await? {
        return Ok(Some(items));
    }
    if !may_match(tx, filter.store_id, reading).await? {
        return Ok(None);
    }
    let items = ranked(tx, filter, reading).await?;
    if !items.is_empty() || prefix_hits(tx, filter, reading).await? {
        return Ok(Some(items));
    }
    Ok(None)
}

/// The page when it lies wholly among the names that start with the phrase (and whose words
/// match the query): those rank first, ordered by name, so they can be read in order off the
/// `(store_id, search_name, product_id)` btree (a `starts_with` range under COLLATE "C")
/// without ranking every match. `None` when that range holds no full page from this offset.
async fn prefix_page(
    tx: &mut Tx,
    filter: &Filter,
    reading: &Reading,
) -> Result<Option<Vec<Hit>>, CatalogError> {
    plan(tx, Plan::NameOrder).await?;
    let items = sqlx::query_as::<_, Hit>(db::sql(format!(
        "SELECT {HIT_COLUMNS} FROM product_search p
         WHERE p.store_id = $1
           AND starts_with(p.search_name, $2)
           AND p.search_doc @@ to_tsquery('simple', $3)
           AND ($4::bigint IS NULL OR p.price_minor >= $4)
           AND ($5::bigint IS NULL OR p.price_minor <= $5)
         ORDER BY p.search_name, p.product_id
         LIMIT $6 OFFSET $7"
    )))
    .bind(filter.store_id)
    .bind(&reading.phrase)
    // Restricted to the name's words: exactly the rows both ranking keys put first.
    .bind(reading.tsquery("A"))
    .bind(filter.min_price)
    .bind(filter.max_price)
    .bind(filter.limit + 1)
    .bind(filter.offset)
    .fetch_all(&mut **tx)
    .await?;
    Ok((items.len() as i64 > filter.limit).then_some(items))
}

/// Whether every word of the reading starts some lexeme of the store's names and descriptions
/// (`search_lexemes`, in byte order: one btree probe per lexeme). `false` means no product can
/// match, learnt without the GIN index; `true` means maybe. Each word is cut into lexemes the
/// way `to_tsquery` cuts it, and a match needs every one of them to start a product's lexeme.
/// Terms with alternatives (a typo reading) are not probed.
async fn may_match(tx: &mut Tx, store_id: Uuid, reading: &Reading) -> Result<bool, CatalogError> {
    let words: Vec<&str> = reading
        .terms
        .iter()
        .filter(|alternatives| alternatives.len() == 1)
        .filter_map(|alternatives| alternatives.first().map(String::as_str))
        .collect();
    if words.is_empty() {
        return Ok(true);
    }
    Ok(sqlx::query_scalar(
        "SELECT NOT EXISTS (
             SELECT 1
             FROM unnest($2::text[]) AS w(word),
                  unnest(tsvector_to_array(to_tsvector('simple', w.word))) AS x(lexeme)
             WHERE NOT coalesce((
                 SELECT starts_with(s.lexeme, x.lexeme) FROM search_lexemes s
                 WHERE s.store_id = $1 AND s.lexeme >= x.lexeme
                 ORDER BY s.lexeme LIMIT 1), false))",
    )
    .bind(store_id)
    .bind(&words)
    .fetch_one(&mut **tx)
    .await?)
}

/// Whether any product of the store (on sale, whatever its price) matches the word prefixes.
async fn prefix_hits(
    tx: &mut Tx,
    filter: &Filter,
    reading: &Reading,
) -> Result<bool, CatalogError> {
    plan(tx, Plan::Bitmap).await?;
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM product_search p
         WHERE p.store_id = $1
           AND p.search_doc @@ to_tsquery('simple', $2))",
    )
    .bind(filter.store_id)
    .bind(reading.tsquery(""))
    .fetch_one(&mut **tx)
    .await?)
}

/// Every match ranked: names that start with the phrase, then names with a word that matches,
/// then descriptions; ties by name. `:*A` restricts a prefix to the name's words.
async fn ranked(tx: &mut Tx, filter: &Filter, reading: &Reading) -> Result<Vec<Hit>, CatalogError> {
    plan(tx, Plan::Free).await?;
    Ok(sqlx::query_as::<_, Hit>(db::sql(format!(
        "SELECT {HIT_COLUMNS} FROM product_search p
         WHERE p.store_id = $1
           AND p.search_doc @@ to_tsquery('simple', $3)
           AND ($5::bigint IS NULL OR p.price_minor >= $5)
           AND ($6::bigint IS NULL OR p.price_minor <= $6)
         ORDER BY starts_with(p.search_name, $2) DESC,
                  p.search_doc @@ to_tsquery('simple', $4) DESC,
                  p.search_name, p.product_id
         LIMIT $7 OFFSET $8"
    )))
    .bind(filter.store_id)
    .bind(&reading.phrase)
    .bind(reading.tsquery(""))
    .bind(reading.tsquery("A"))
    .bind(filter.min_price)
    .bind(filter.max_price)
    .bind(filter.limit + 1)
    .bind(filter.offset)
    .fetch_all(&mut **tx)
    .await?)
}

/// How many vocabulary words may stand in for one query word.
const CORRECTIONS_PER_WORD: i64 = 3;

/// The typo reading of `q`: each word may also be read as one of the store's name words
/// (`search_words`) closest to it by trigram similarity (`%`, `pg_trgm.similarity_threshold`,
/// 0.3, set with the search's other settings).
/// The phrase takes each word's best correction. `None` when no word is close to anything.
async fn corrected(
    tx: &mut Tx,
    store_id: Uuid,
    reading: &Reading,
) -> Result<Option<Reading>, CatalogError> {
    let words = reading.words();
    plan(tx, Plan::Free).await?;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT w.i, v.word
         FROM unnest($2::text[]) WITH ORDINALITY AS w(word, i)
         CROSS JOIN LATERAL (
             SELECT s.word, similarity(s.word, w.word) AS sim
             FROM search_words s
             WHERE s.store_id = $1 AND s.word % w.word
             ORDER BY sim DESC, s.word
             LIMIT $3) v
         ORDER BY w.i, v.sim DESC, v.word",
    )
    .bind(store_id)
    .bind(&words)
    .bind(CORRECTIONS_PER_WORD)
    .fetch_all(&mut **tx)
    .await?;
    Ok(correct(&words, &rows))
}

/// Builds the corrected reading from the query's words and `(1-based word index, correction)`
/// rows, best first per word. A word keeps its own prefix among its alternatives (it may match
/// a description); corrections that are not plain letters and digits are ignored (and every
/// word reaches the tsquery quoted, as data).
fn correct(words: &[String], rows: &[(i64, String)]) -> Option<Reading> {
    let mut any = false;
    let mut phrase = Vec::new();
    let mut terms = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let alternatives: Vec<&str> = rows
            .iter()
            .filter(|(n, c)| {
                *n == i as i64 + 1 && !c.is_empty() && c.chars().all(char::is_alphanumeric)
            })
            .map(|(_, c)| c.as_str())
            .collect();
        any |= !alternatives.is_empty();
        phrase.push(alternatives.first().copied().unwrap_or(word).to_owned());
        let mut term = vec![word.clone()];
        term.extend(
            alternatives
                .iter()
                .filter(|c| **c != word.as_str())
                .map(|c| (*c).to_owned()),
        );
        terms.push(term);
    }
    any.then(|| Reading {
        phrase: phrase.join(" "),
        terms,
    })
}

#[derive(sqlx::FromRow)]
struct NamedHit {
    search_name: String,
    #[sqlx(flatten)]
    hit: Hit,
}

#[cfg(test)]
mod tests {
    use super::{Reading, correct, quoted};

    #[test]
    fn builds_safe_prefix_queries() {
        let tsquery = |q: &str| Reading::of(q).map(|r| r.tsquery(""));
        assert_eq!(tsquery("choc").as_deref(), Some("'choc':*"));
        assert_eq!(
            tsquery("café  do-zé").as_deref(),
            Some("'café':* & 'do':* & 'zé':*")
        );
        assert_eq!(tsquery("a' | !b:*").as_deref(), Some("'a':* & 'b':*"));
        // What f_unaccent makes of ⑴, ː, ʼ and ½: punctuation between words, never syntax.
        assert_eq!(
            tsquery("(1) : ' 1/2").as_deref(),
            Some("'1':* & '1':* & '2':*")
        );
        assert_eq!(tsquery(" %% "), None);
        assert_eq!(
            Reading::of("cafe").map(|r| r.tsquery("A")).as_deref(),
            Some("'cafe':*A")
        );
        assert_eq!(quoted(r"it's a\b"), r"'it''s a\\b'");
        let long = "x".repeat(5000);
        assert_eq!(Reading::of(&long).map(|r| r.terms[0][0].len()), Some(64));
    }

    #[test]
    fn corrects_words_with_their_closest_vocabulary() {
        let words = [
            "queijo".to_owned(),
            "artesnal".to_owned(),
            "vovo".to_owned(),
        ];
        let rows = [
            (1, "queijo".to_owned()),
            (2, "artesanal".to_owned()),
            (2, "artesano".to_owned()),
            (2, "a:*|b".to_owned()),
        ];
        let reading = correct(&words, &rows).expect("a word was corrected");
        assert_eq!(reading.phrase, "queijo artesanal vovo");
        assert_eq!(
            reading.tsquery(""),
            "'queijo':* & ('artesnal':* | 'artesanal':* | 'artesano':*) & 'vovo':*"
        );
        assert!(correct(&words, &[]).is_none());
    }
}
