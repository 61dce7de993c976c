import { randomUUID } from 'node:crypto';
import { AppError, parseBody, parseId, type ServiceContext } from '@cdc-outbox-saga/platform';
import type { Express } from 'express';
import { z } from 'zod';
import { findProduct, insertProduct } from '../data/product-repository.js';

const newProduct = z.strictObject({
  name: z.string().trim().min(1).max(200),
  price: z.number().int().min(0).max(1_000_000_000),
  stock: z.number().int().min(0).max(1_000_000_000),
});

export function productRoutes(app: Express, { db }: ServiceContext): void {
  app.post('/products', async (req, res) => {
    const input = parseBody(newProduct, req.body);
    const product = { id: randomUUID(), ...input };
    await insertProduct(db, product);
    res.status(201).location(`/api/products/${product.id}`).json(product);
  });

  app.get('/products/:id', async (req, res) => {
    const product = await findProduct(db, parseId(req.params.id));
    if (!product) throw new AppError('PRODUCT_NOT_FOUND', `no product ${req.params.id}`, { status: 404 });
    res.json(product);
  });
}
