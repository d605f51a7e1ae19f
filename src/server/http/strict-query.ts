import type { FastifyRequest } from 'fastify';
import { ApiError } from '../http-errors.js';

const DECIMAL = /^(0|[1-9][0-9]{0,8})$/;

/**
 * A preValidation hook: the integer parameters of a querystring schema must be plain decimal
 * digits. Ajv's type coercion takes anything Number() takes ("0x10" is 16, "  5" is 5, "1e1" is
 * 10); it still checks ranges after this.
 */
export function strictIntegerQuery(schema: { properties: Record<string, unknown> }) {
  const integers = Object.entries(schema.properties).filter(([, s]) => (s as { type?: string }).type === 'integer').map(([name]) => name);
  return async (request: FastifyRequest): Promise<void> => {
    const query = request.query as Record<string, unknown>;
    for (const name of integers) {
      const value = query[name];
      if (value === undefined) continue;
      if (typeof value !== 'string' || !DECIMAL.test(value)) {
        const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 20)) : 'given more than once';
        throw new ApiError('invalid_parameter', `${name} must be a decimal integer, got ${shown}`);
      }
    }
  };
}
