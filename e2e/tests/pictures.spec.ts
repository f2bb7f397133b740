import { expect, test } from '@playwright/test';
import { deflateSync } from 'node:zlib';
import { admin, keepScreenshot, logIn, logOut, watchConsole } from './helpers';

// A w×h PNG of coloured bands, made here so the test needs no file of its own.
function png(w: number, h: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // 8 bits per channel
  ihdr[9] = 2; // RGB
  const rows: Buffer[] = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + 3 * w); // filter byte 0, then pixels
    const band = Math.floor((y * 4) / h);
    for (let x = 0; x < w; x++) row.set([[230, 90, 60], [250, 200, 80], [70, 160, 120], [60, 90, 200]][band], 1 + 3 * x);
    rows.push(row);
  }
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

test('an admin uploads a picture and the product page shows it with its text', async ({ page }, testInfo) => {
  const con = watchConsole(page);
  const run = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
  const name = `Striped Poster ${run}`;
  const alt = `A poster in four stripes: red, yellow, green and blue (${run})`;
  await logIn(page, admin);
  const created = await page.request.post('/admin/products', {
    headers: { Accept: 'application/json' },
    form: { sku: `PIC-${run}`, name, brand: 'Paperhaus', category: 'books', description: 'Stripes.', price: '12900', stock: '7' },
  });
  expect(created.status(), await created.text()).toBe(201);
  const { id } = await created.json();

  await page.goto(`/admin/products/${id}`);
  const section = page.getByRole('region', { name: 'Picture' });
  await expect(section.getByText('No picture yet')).toBeVisible();

  // A text file named like a photo is refused by its content, at the field.
  await section.getByLabel(/Picture file/).setInputFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture at all') });
  await section.getByLabel(/Describe the picture/).fill(alt);
  await section.getByRole('button', { name: 'Upload picture' }).click();
  await expect(page.getByText('This file is not a JPEG, PNG or WebP picture.').first()).toBeVisible();
  await expect(page.getByLabel(/Describe the picture/)).toHaveValue(alt); // what was typed is kept

  await page.getByLabel(/Picture file/).setInputFiles({ name: 'stripes.png', mimeType: 'image/png', buffer: png(1200, 900) });
  await page.getByRole('button', { name: 'Upload picture' }).click();
  await expect(page.getByText(`The picture of “${name}” is saved.`)).toBeVisible();
  await expect(page.getByRole('region', { name: 'Picture' }).getByRole('img', { name: alt })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Replace picture' })).toBeVisible();
  await keepScreenshot(page, testInfo, 'admin-product-picture');
  await logOut(page);

  // A shopper sees it on the product page, loaded at once, with its text.
  await page.goto(`/products/${id}`);
  const picture = page.getByRole('img', { name: alt });
  await expect(picture).toBeVisible();
  await expect(picture).not.toHaveAttribute('loading', 'lazy');
  await expect(picture).toHaveAttribute('width', '960');
  await expect(picture).toHaveAttribute('height', '720');
  await expect.poll(() => picture.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  await keepScreenshot(page, testInfo, 'product-with-picture');

  // And on its search card, lazily.
  await page.goto(`/products?q=${encodeURIComponent(`striped poster ${run}`)}`);
  const card = page.getByRole('article').filter({ hasText: name });
  const thumb = card.getByRole('img', { name: alt });
  await expect(thumb).toHaveAttribute('loading', 'lazy');
  await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  // The refused upload's page came with its status, which Chromium logs; nothing else may have.
  expect(con.problems.filter((p) => !p.includes('status of 415'))).toEqual([]);
});
