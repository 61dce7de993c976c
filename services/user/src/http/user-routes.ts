import { randomUUID } from 'node:crypto';
import { AppError, parseBody, parseId, textSchema, type ServiceContext } from '@cdc-outbox-saga/platform';
import type { Express } from 'express';
import { z } from 'zod';
import { findUser, insertUser } from '../data/user-repository.js';

/** `users.name` is a VARCHAR(200) of utf8mb4: 200 code points. */
export const USER_NAME_MAX = 200;

/** A new user; `name` comes out trimmed, and that is what is stored and answered. */
export const newUser = z.strictObject({
  name: textSchema(USER_NAME_MAX),
  points: z.number().int().min(0).max(1_000_000_000_000),
});

export function userRoutes(app: Express, { db }: ServiceContext): void {
  app.post('/users', async (req, res) => {
    const input = parseBody(newUser, req);
    const user = { id: randomUUID(), ...input };
    await insertUser(db, user);
    res.status(201).location(`/api/users/${user.id}`).json(user);
  });

  app.get('/users/:id', async (req, res) => {
    const id = parseId(req.params.id);
    const user = await findUser(db, id);
    if (!user) throw new AppError('USER_NOT_FOUND', `no user ${id}`, { status: 404 });
    res.json(user);
  });
}
