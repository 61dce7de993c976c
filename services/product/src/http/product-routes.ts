import { randomUUID } from 'node:crypto';
import { AppError, parseBody, parseId, textSchema, type ServiceContext } from '@cdc-outbox-saga/platform';
import type { Express } from 'express';
import { z } from 'zod';
import { findProduct, insertProduct } from '../data/product-repository.js';

/** `products.name` is a VARCHAR(200) of utf8mb4: 200 code points. */
export const PRODUCT_NAME_MAX = 200;

/** A new product; `name` comes out trimmed, and that is what is stored and answered. */
export const newProduct = z.strictObject({
  name: textSchema(PRODUCT_NAME_MAX),
  price: z.number().int().min(0).max(1_000_000_000),
  stock: z.number().int().min(0).max(1_000_000_000),
});

export function productRoutes(app: Express, { db }: ServiceContext): void {
  app.post('/products', async (req, res) => {
    const input = parseBody(newProduct, req);
    const product = { id: randomUUID(), ...input };
    await insertProduct(db, product);
    res.status(201).location(`/api/products/${product.id}`).json(product);
  });

  app.get('/products/:id', async (req, res) => {
    const id = parseId(req.params.id);
    const product = await findProduct(db, id);
    if (!product) throw new AppError('PRODUCT_NOT_FOUND', `no product ${id}`, { status: 404 });
    res.json(product);
  });
}
