import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { RmqContext } from '@nestjs/microservices';
import { Observable, finalize } from 'rxjs';

/**
 * Acks each RabbitMQ message once its handler is done, answered or failed (with `noAck: false`
 * the server holds at most `prefetchCount` unacked messages: RPC_PREFETCH of them at a time).
 */
@Injectable()
export class RmqAckInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const rmq = context.switchToRpc().getContext<RmqContext>();
    return next.handle().pipe(
      finalize(() => {
        rmq.getChannelRef().ack(rmq.getMessage());
      }),
    );
  }
}
