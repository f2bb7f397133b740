-- Product pictures (docs/PICTURES.md). internal/catalog writes them; the
-- image route reads them by the hash in their URL.

-- name: SetProductImageKey :one
-- Taken first in a picture's transaction: the row lock on the product
-- queues two uploads for it, and a product that is gone matches no row.
-- image_key has no index, so the update leaves the search indexes alone.
UPDATE products SET image_key = @image_key, updated_at = now()
WHERE id = @id
RETURNING id;

-- name: UpsertPicture :exec
INSERT INTO product_pictures (product_id, hash, alt, original_type, original, width, height,
    sized_type, large, large_width, large_height, small, small_width, small_height, uploaded_by)
VALUES (@product_id, @hash, @alt, @original_type, @original, @width, @height,
    @sized_type, @large, @large_width, @large_height, @small, @small_width, @small_height, @uploaded_by)
ON CONFLICT (product_id) DO UPDATE SET
    hash = EXCLUDED.hash, alt = EXCLUDED.alt, original_type = EXCLUDED.original_type,
    original = EXCLUDED.original, width = EXCLUDED.width, height = EXCLUDED.height,
    sized_type = EXCLUDED.sized_type, large = EXCLUDED.large, large_width = EXCLUDED.large_width,
    large_height = EXCLUDED.large_height, small = EXCLUDED.small, small_width = EXCLUDED.small_width,
    small_height = EXCLUDED.small_height, uploaded_by = EXCLUDED.uploaded_by, uploaded_at = now();

-- name: PictureFile :one
-- One size of a picture by its hash (product_pictures_hash_idx). Only the
-- size asked for is read from its out-of-line storage. Rows with the same
-- hash hold the same bytes, so any of them answers.
SELECT sized_type, CASE WHEN @large::boolean THEN large ELSE small END::bytea AS data
FROM product_pictures
WHERE hash = @hash
LIMIT 1;

-- name: PictureKnown :one
-- For a conditional request: the type of a picture's sizes, without its bytes.
SELECT sized_type FROM product_pictures WHERE hash = @hash LIMIT 1;

-- name: PictureAlts :many
-- The text of the pictures a page of cards shows, by their products.
SELECT product_id, alt FROM product_pictures WHERE product_id = ANY(@product_ids::bigint[]);
