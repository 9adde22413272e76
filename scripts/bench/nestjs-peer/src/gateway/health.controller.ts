import { Controller, Get, HttpCode, ServiceUnavailableException } from '@nestjs/common';
import { Public } from './auth/public.decorator';
import { CacheService } from './cache/cache.service';
import { RpcService } from './rpc/rpc.service';

@Controller()
export class HealthController {
  constructor(
    private readonly rpc: RpcService,
    private readonly cache: CacheService,
  ) {}

  /** 200 once Redis is connected and both services answer a ping that reaches their database. */
  @Public()
  @Get('readyz')
  @HttpCode(200)
  async readyz(): Promise<{ status: string }> {
    if (!this.cache.ready) {
      throw new ServiceUnavailableException('Redis is not connected');
    }
    if (!(await this.rpc.ready(2000))) {
      throw new ServiceUnavailableException('a service does not answer');
    }
    return { status: 'ready' };
  }

  @Public()
  @Get('healthz')
  healthz(): { status: string } {
    return { status: 'ok' };
  }
}
