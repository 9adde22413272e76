import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'isPublic';

/** A field (or route) that needs no token: createUser, login, /readyz. */
export const Public = () => SetMetadata(IS_PUBLIC, true);
