import { randomUUID } from 'node:crypto';
import { AppError, parseBody, parseId, type ServiceContext } from '@cdc-outbox-saga/platform';
import type { Express } from 'express';
import { z } from 'zod';
import { findUser, insertUser } from '../data/user-repository.js';

const newUser = z.strictObject({
  name: z.string().trim().min(1).max(200),
  points: z.number().int().min(0).max(1_000_000_000_000),
});

export function userRoutes(app: Express, { db }: ServiceContext): void {
  app.post('/users', async (req, res) => {
    const input = parseBody(newUser, req.body);
    const user = { id: randomUUID(), ...input };
    await insertUser(db, user);
    res.status(201).location(`/api/users/${user.id}`).json(user);
  });

  app.get('/users/:id', async (req, res) => {
    const user = await findUser(db, parseId(req.params.id));
    if (!user) throw new AppError('USER_NOT_FOUND', `no user ${req.params.id}`, { status: 404 });
    res.json(user);
  });
}
